/**
 * Exit codes, from the CLI process itself (not from the functions behind it):
 * 0 ok, 1 failure (or reconcile found problems), 2 bad usage or configuration
 * (or reconcile could not run). Each case also checks what was printed, so a
 * process that exits with the right code for the wrong reason fails.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { insertEvents } from '../helpers/outboxFixtures.ts';
import { spawnCli } from '../helpers/relayProcess.ts';
import { useTestDatabases } from '../helpers/testDatabases.ts';
import { adminUrl, withDatabase } from '../helpers/urls.ts';

const t = useTestDatabases();

async function cli(args: string[], extraEnv: Record<string, string | undefined> = {}): Promise<{ code: number | null; out: string }> {
  const proc = spawnCli(args, { DATABASE_URL: t().databaseUrl, MONGO_URL: t().mongoUrl, MONGO_DB: t().mongoDbName, ...extraEnv });
  const { code } = await proc.exited;
  return { code, out: proc.output() };
}

/** A URL to a port nothing listens on (port 1 is never served on loopback here). */
function closedPort(url: string): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = '1';
  return u.toString();
}

async function deadEvents(n: number, prefix: string): Promise<string[]> {
  const ids = await insertEvents(t().pool, Array.from({ length: n }, (_, i) => ({ aggregateId: `${prefix}-${i}`, version: 1, metadata: { i } })));
  await t().pool.query(`UPDATE outbox SET status = 'dead', attempts = 10, dead_at = now(), last_error = 'poison' WHERE event_id = ANY($1::uuid[])`, [ids]);
  return ids;
}

describe('reconcile exits 0 clean, 1 with problems, 2 when it cannot run', () => {
  it('0 on a clean database', async () => {
    const { code, out } = await cli(['reconcile']);
    expect(out).toMatch(/reconcile OK/);
    expect(code).toBe(0);
  });

  it('1 when a check finds a problem (a dead event), naming the check', async () => {
    const ids = await deadEvents(1, 'reconcile-dead');
    try {
      const { code, out } = await cli(['reconcile']);
      expect(out).toMatch(/PROBLEMS/);
      expect(out).toMatch(/outbox-health\s+1 problem/);
      expect(code).toBe(1);
    } finally {
      await t().pool.query('DELETE FROM outbox WHERE event_id = ANY($1::uuid[])', [ids]);
    }
  });

  it('2 when MongoDB cannot be reached, 2 when PostgreSQL cannot be reached, 2 on an unknown check', async () => {
    const [mongoDown, pgDown, badCheck] = await Promise.all([
      cli(['reconcile'], { MONGO_URL: closedPort(t().mongoUrl) }),
      cli(['reconcile'], { DATABASE_URL: closedPort(t().databaseUrl) }),
      cli(['reconcile', '--check', 'no-such-check']),
    ]);
    expect(mongoDown.out).toMatch(/reconcile could not run/);
    expect(mongoDown.code).toBe(2);
    expect(pgDown.out).toMatch(/reconcile could not run: .*ECONNREFUSED/);
    expect(pgDown.code).toBe(2);
    expect(badCheck.out).toMatch(/unknown check no-such-check/);
    expect(badCheck.code).toBe(2);
  });
});

describe('run failing at start', () => {
  it('PostgreSQL unreachable: exit 1 at once with the reason, not a hang', async () => {
    const { code, out } = await cli(['run'], { DATABASE_URL: closedPort(t().databaseUrl), OUTBOX_RELAY_OPS_PORT: 'off' });
    expect(out).toMatch(/outbox-relay: .*ECONNREFUSED/);
    expect(code).toBe(1);
  });

  describe('a database without the outbox tables', () => {
    const name = `outbox_relay_empty_${randomBytes(4).toString('hex')}`;
    let created = false;
    afterAll(async () => {
      if (!created) return;
      const admin = new pg.Client({ connectionString: adminUrl(t().databaseUrl) });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).finally(() => admin.end());
    });

    it('exit 1 with a message that says to run migrate', async () => {
      const admin = new pg.Client({ connectionString: adminUrl(t().databaseUrl) });
      await admin.connect();
      await admin.query(`CREATE DATABASE "${name}"`).finally(() => admin.end());
      created = true;
      const { code, out } = await cli(['run'], { DATABASE_URL: withDatabase(t().databaseUrl, name), OUTBOX_RELAY_OPS_PORT: 'off' });
      expect(out).toMatch(/outbox-relay: .*not migrated.*outbox-relay migrate/);
      expect(code).toBe(1);
    });
  });
});

describe('migrate on a bad URL', () => {
  const PW = 'MigratePw-9f3e';
  it('2 for a URL that is not PostgreSQL; 1 for a closed port or a database that does not exist; never the password', async () => {
    const withPassword = (url: string) => {
      const u = new URL(url);
      u.username = u.username || 'postgres';
      u.password = PW;
      return u.toString();
    };
    const [wrongScheme, closed, missing] = await Promise.all([
      cli(['migrate'], { DATABASE_URL: `mysql://user:${PW}@127.0.0.1/x` }),
      cli(['migrate'], { DATABASE_URL: withPassword(closedPort(t().databaseUrl)) }),
      cli(['migrate'], { DATABASE_URL: withPassword(withDatabase(t().databaseUrl, `outbox_relay_nope_${randomBytes(4).toString('hex')}`)) }),
    ]);
    expect(wrongScheme.out).toMatch(/invalid configuration: DATABASE_URL: must be a URL/);
    expect(wrongScheme.code).toBe(2);
    expect(closed.out).toMatch(/outbox-relay: .*ECONNREFUSED/);
    expect(closed.code).toBe(1);
    expect(missing.out).toMatch(/outbox-relay: database "outbox_relay_nope_[0-9a-f]+" does not exist/);
    expect(missing.code).toBe(1);
    for (const r of [wrongScheme, closed, missing]) expect(r.out).not.toContain(PW);
  });
});

describe('dead requeue --all', () => {
  it('requeues every dead event (exit 0), then finds none (exit 0, requeued 0); --all with ids is bad usage (exit 2)', async () => {
    const ids = await deadEvents(3, 'requeue-all');
    const all = await cli(['dead', 'requeue', '--all']);
    expect(all.out).toMatch(/requeued 3/);
    expect(all.code).toBe(0);
    const { rows } = await t().pool.query('SELECT status, attempts FROM outbox WHERE event_id = ANY($1::uuid[])', [ids]);
    expect(rows).toEqual(ids.map(() => ({ status: 'pending', attempts: 0 })));

    const none = await cli(['dead', 'requeue', '--all']);
    expect(none.out).toMatch(/requeued 0/);
    expect(none.code).toBe(0);

    const both = await cli(['dead', 'requeue', '--all', ids[0] as string]);
    expect(both.out).toMatch(/give event ids or --all, not both/);
    expect(both.code).toBe(2);
  });
});
