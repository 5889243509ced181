import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMigrations } from '../../src/db/migrate.ts';
import { useTestDatabases } from '../helpers/testDatabases.ts';

const t = useTestDatabases();

describe('migrations', () => {
  it('running migrate again on a migrated database is a no-op', async () => {
    const before = await t().pool.query('SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations');
    await runMigrations(t().databaseUrl);
    await runMigrations(t().databaseUrl);
    const after = await t().pool.query('SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations');
    expect(after.rows[0].n).toBe(before.rows[0].n);
    expect(before.rows[0].n).toBeGreaterThanOrEqual(2);
  });

  it('the schema module and the generated migrations are in sync (drizzle-kit generate finds nothing new)', () => {
    // Generate into a scratch copy of drizzle/ (inside the repo: drizzle-kit
    // resolves --out relative to the working directory) and expect no new file.
    const scratch = join('.cache', `drizzle-sync-${process.pid}`);
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync('.cache', { recursive: true });
    cpSync('drizzle', scratch, { recursive: true });
    try {
      const out = execFileSync('npx', ['drizzle-kit', 'generate', '--dialect', 'postgresql', '--schema', './src/db/schema.ts', '--out', `./${scratch}`], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      expect(out).toMatch(/No schema changes/);
      expect(readdirSync(scratch).sort()).toEqual(readdirSync('drizzle').sort());
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('outbox_lag answers on an empty outbox', async () => {
    const { rows } = await t().pool.query('SELECT * FROM outbox_lag');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ pending_count: '0', in_flight_count: '0', dead_count: '0', delivered_last_minute: '0', relays_alive: 0, oldest_pending_seconds: null });
  });
});
