import { describe, expect, it } from 'vitest';
import { resolveConfig, SETTINGS } from '../../../src/config.ts';
import { ConfigError } from '../../../src/errors.ts';

const base = { DATABASE_URL: 'postgres://u@h/db', MONGO_URL: 'mongodb://h' };
const A = 'alice-secret-0123456789abcdef';
const B = 'bob-secret-0123456789abcdef00';

function failure(env: Record<string, string>): ConfigError {
  try {
    resolveConfig({ ...base, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('ops tokens and control-plane settings', () => {
  it('parses named tokens (name=token, comma separated, spaces trimmed)', () => {
    const config = resolveConfig({ ...base, OUTBOX_RELAY_OPS_TOKENS: ` alice=${A} , bob=${B}` });
    expect(config.opsTokens).toEqual([
      { name: 'alice', token: A },
      { name: 'bob', token: B },
    ]);
    expect(config.opsRateLimit).toBe(600);
    expect(config.opsLagSampleMs).toBe(15_000);
  });

  it.each([
    ['a short token', `alice=short`, /token of alice must be at least 16/],
    ['a missing name', `=${A}`, /entry 1 must be name=token/],
    ['a bad name', `al ice=${A}`, /entry 1 must be name=token/],
    ['a name given twice', `alice=${A},alice=${B}`, /alice is given twice/],
    ['one token under two names', `alice=${A},bob=${A}`, /shares its token/],
    ['nothing', ` , `, /at least one name=token/],
  ])('refuses %s, naming the variable and never echoing a token', (_name, value, message) => {
    const error = failure({ OUTBOX_RELAY_OPS_TOKENS: value });
    expect(error.variable).toBe('OUTBOX_RELAY_OPS_TOKENS');
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain(A);
    expect(error.message).not.toContain('short');
  });

  it('parses tokens scoped to tenants (name=token@t1+t2): the tenants sorted, duplicates folded; unscoped entries open every tenant', () => {
    const config = resolveConfig({ ...base, OUTBOX_RELAY_OPS_TOKENS: `alice=${A}@t2+t1+t2,bob=${B}` });
    expect(config.opsTokens).toEqual([
      { name: 'alice', token: A, tenants: ['t1', 't2'] },
      { name: 'bob', token: B },
    ]);
  });

  it.each([
    ['an empty scope', `alice=${A}@`],
    ['an empty tenant between +', `alice=${A}@t1++t2`],
    ['a tenant id the registry would refuse', `alice=${A}@T1`],
    ['markup for a tenant', `alice=${A}@<b>`],
  ])('refuses %s at start, naming the variable and never echoing the token', (_name, value) => {
    const error = failure({ OUTBOX_RELAY_OPS_TOKENS: value });
    expect(error.variable).toBe('OUTBOX_RELAY_OPS_TOKENS');
    expect(error.message).toMatch(/the tenants of alice \(after @\) must be tenant ids/);
    expect(error.message).not.toContain(A);
  });

  it('refuses a named token equal to OUTBOX_RELAY_OPS_TOKEN (the audit log could not tell them apart)', () => {
    const error = failure({ OUTBOX_RELAY_OPS_TOKEN: A, OUTBOX_RELAY_OPS_TOKENS: `alice=${A}` });
    expect(error.message).toMatch(/equals OUTBOX_RELAY_OPS_TOKEN/);
    expect(error.message).not.toContain(A);
  });

  it('does not echo a too-short single token either', () => {
    expect(failure({ OUTBOX_RELAY_OPS_TOKEN: 'tiny-secret' }).message).not.toContain('tiny-secret');
  });

  it('marks both token settings secret', () => {
    expect(SETTINGS.opsToken.secret).toBe(true);
    expect(SETTINGS.opsTokens.secret).toBe(true);
  });

  it('bounds the rate limit and the lag sample interval', () => {
    expect(failure({ OUTBOX_RELAY_OPS_RATE_LIMIT: '0' }).variable).toBe('OUTBOX_RELAY_OPS_RATE_LIMIT');
    expect(failure({ OUTBOX_RELAY_OPS_LAG_SAMPLE_MS: '10' }).variable).toBe('OUTBOX_RELAY_OPS_LAG_SAMPLE_MS');
  });
});
