import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, redactUrl } from '../../src/logger.ts';
import { waitFor } from '../helpers/waitFor.ts';

const dir = mkdtempSync(join(tmpdir(), 'outbox-relay-logger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Log through a real pino destination (a file) and read back what was written. */
async function written(lines: number, log: (logger: ReturnType<typeof createLogger>) => void, secrets?: string[]): Promise<string> {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.log`);
  const fd = openSync(file, 'w');
  const logger = createLogger({ level: 'trace', fd, ...(secrets ? { secrets } : {}) });
  log(logger);
  logger.flush();
  // The destination writes asynchronously: wait for the lines, then close.
  const text = await waitFor(() => {
    const t = readFileSync(file, 'utf8');
    return t.split('\n').filter(Boolean).length >= lines ? t : undefined;
  }, { timeoutMs: 5000, message: `${lines} log lines` });
  closeSync(fd);
  return text;
}

describe('the logger never writes a secret', () => {
  it('redacts credential fields by name, at the top level and one level down', async () => {
    const out = await written(2, (logger) => {
      logger.info({ databaseUrl: 'postgres://u:PgPw1234@h/db', opsToken: 'TokTokTok1234567', config: { mongoUrl: 'mongodb://u:MoPw1234@h/', listenDatabaseUrl: 'postgres://u:LiPw1234@h/db' } }, 'configuration');
      logger.info({ headers: { authorization: 'Bearer TokTokTok1234567' }, password: 'Plain1234' }, 'request');
    });
    expect(out.split('\n').filter(Boolean)).toHaveLength(2);
    expect(out).toContain('[redacted]');
    for (const secret of ['PgPw1234', 'TokTokTok1234567', 'MoPw1234', 'LiPw1234', 'Plain1234']) expect(out).not.toContain(secret);
  });

  it('cuts the given secrets out of strings no path reaches: error messages and stacks, free text, JSON-escaped spellings', async () => {
    const secrets = ['PgPw1234', 'quo"te\\pw'];
    const out = await written(2, (logger) => {
      logger.error({ err: new Error('could not connect to postgres://u:PgPw1234@h/db') }, 'start failed');
      logger.warn(`retrying with quo"te\\pw and PgPw1234`);
    }, secrets);
    expect(out).toContain('could not connect to postgres://u:[redacted]@h/db');
    expect(out).not.toContain('PgPw1234');
    expect(out).not.toContain(JSON.stringify('quo"te\\pw').slice(1, -1));
    expect(out.match(/\[redacted\]/g)?.length).toBeGreaterThanOrEqual(4); // message and stack of the error, both secrets in the warning
  });

  it('redactUrl hides the password and credential-like query values of a URL', () => {
    expect(redactUrl('postgres://u:PgPw1234@h:5432/db?password=Q1234&application_name=x&sslkey=/k')).toBe('postgres://u:***@h:5432/db?password=***&application_name=x&sslkey=***');
    expect(redactUrl('mongodb://u:MoPw1234@h/?authMechanismProperties=AWS_SESSION_TOKEN:T123')).toBe('mongodb://u:***@h/?authMechanismProperties=***');
    expect(redactUrl('postgres://u:Pw1234@[bad')).toBe('postgres://u:***@[bad');
  });
});
