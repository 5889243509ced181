import { describe, expect, it } from 'vitest';
import { insertEvents } from '../helpers/outboxFixtures.ts';
import { spawnCli } from '../helpers/relayProcess.ts';
import { useTestDatabases } from '../helpers/testDatabases.ts';

const t = useTestDatabases();

async function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  const proc = spawnCli(args, { DATABASE_URL: t().databaseUrl, MONGO_URL: t().mongoUrl, MONGO_DB: t().mongoDbName, ...extraEnv });
  const { code } = await proc.exited;
  return { code, out: proc.output() };
}

describe('the command line', () => {
  it('migrate is a no-op on a migrated database', async () => {
    const { code, out } = await cli(['migrate']);
    expect(code).toBe(0);
    expect(out).toMatch(/migrations applied/);
  });

  it('status prints the lag as a table, and as JSON with --json', async () => {
    await insertEvents(t().pool, [{ aggregateId: 'status-1', version: 1, metadata: { a: 1 } }]);
    const table = await cli(['status']);
    expect(table.code).toBe(0);
    expect(table.out).toMatch(/pending\s+1/);
    expect(table.out).toMatch(/relays alive\s+0/);
    expect(table.out).toMatch(/last reconcile: never/);
    expect(table.out).toMatch(/time in outbox \(last 60 s, created → delivered\): no deliveries/);
    const json = await cli(['status', '--json']);
    expect(JSON.parse(json.out)).toMatchObject({ pendingCount: 1, deadCount: 0, relaysAlive: 0, lastReconcile: null, timeInOutbox: { windowSeconds: 60, count: 0, p50Seconds: null, p99Seconds: null } });
  });

  it('dead list shows parked events and dead requeue puts them back to pending with attempts reset', async () => {
    const [eventId] = await insertEvents(t().pool, [{ aggregateId: 'dead-1', version: 1, metadata: { a: 1 } }]);
    await t().pool.query(`UPDATE outbox SET status = 'dead', attempts = 10, dead_at = now(), last_error = 'invalid key: "$x"' WHERE event_id = $1`, [eventId]);
    const list = await cli(['dead', 'list']);
    expect(list.code).toBe(0);
    expect(list.out).toContain(eventId);
    expect(list.out).toContain('transaction/dead-1 v1');
    expect(list.out).toContain('invalid key');
    const json = await cli(['dead', 'list', '--json', '--limit', '5']);
    expect(JSON.parse(json.out)).toEqual([expect.objectContaining({ eventId, attempts: 10 })]);
    const requeue = await cli(['dead', 'requeue', eventId!]);
    expect(requeue.code).toBe(0);
    expect(requeue.out).toMatch(/requeued 1/);
    const { rows } = await t().pool.query('SELECT status, attempts FROM outbox WHERE event_id = $1', [eventId]);
    expect(rows[0]).toEqual({ status: 'pending', attempts: 0 });
  });

  it('dead requeue refuses bad usage and reports unknown ids with a non-zero exit', async () => {
    expect((await cli(['dead', 'requeue'])).code).toBe(2);
    const unknown = await cli(['dead', 'requeue', '00000000-0000-4000-8000-000000000000', 'not-a-uuid']);
    expect(unknown.code).toBe(1);
    expect(unknown.out).toMatch(/not dead or unknown: 00000000-0000-4000-8000-000000000000, not-a-uuid/);
    expect((await cli(['dead', 'list', '--limit', 'many'])).code).toBe(2);
  });

  it('reconcile on a clean database exits 0 and records the run for status', async () => {
    await t().pool.query('DELETE FROM outbox');
    const { code, out } = await cli(['reconcile']);
    expect(out).toMatch(/metadata-sync/);
    expect(code).toBe(0);
    expect((await cli(['status'])).out).toMatch(/last reconcile: clean/);
    expect((await cli(['reconcile', '--check', 'no-such-check'])).code).toBe(2);
  });
});
