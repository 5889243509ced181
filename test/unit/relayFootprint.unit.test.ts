/**
 * The relay process must not load drizzle-orm: importing it costs about
 * 230 MiB of heap at start (src/db/pool.ts), over the relay's memory budget.
 * Loads the relay in a fresh Node process and records every module it resolves.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const RELAY = fileURLToPath(new URL('../../src/relay/relay.ts', import.meta.url));
const PUBLIC_API = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

function modulesLoadedBy(entry: string): string[] {
  const script = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r; } });
    await import(${JSON.stringify(entry)});
    console.log(JSON.stringify(seen));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, OUTBOX_RELAY_LOG_LEVEL: 'silent' } });
  return JSON.parse(out.trim().split('\n').pop() ?? '[]') as string[];
}

describe('relay footprint', () => {
  it('loading the relay never loads drizzle-orm', () => {
    const loaded = modulesLoadedBy(RELAY);
    expect(loaded.length, 'no module was recorded').toBeGreaterThan(20);
    expect(loaded.filter((url) => url.includes('/drizzle-orm/'))).toEqual([]);
  });

  it('importing the public API, as a plain-pg writer does, never loads drizzle-orm', () => {
    const loaded = modulesLoadedBy(PUBLIC_API);
    expect(loaded.some((url) => url.includes('/node_modules/pg/')), 'pg was not recorded').toBe(true);
    expect(loaded.filter((url) => url.includes('/drizzle-orm/'))).toEqual([]);
  });
});
