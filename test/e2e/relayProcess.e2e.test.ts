import { describe, expect, it } from 'vitest';
import { insertEvents, outboxCounts } from '../helpers/outboxFixtures.ts';
import { testRelayEnv } from '../helpers/relayConfig.ts';
import { startRelayProcess } from '../helpers/relayProcess.ts';
import { startTcpProxy } from '../helpers/tcpProxy.ts';
import { useTestDatabases } from '../helpers/testDatabases.ts';
import { waitFor } from '../helpers/waitFor.ts';

const t = useTestDatabases();

async function loadBacklog(prefix: string, entities: number, versions: number): Promise<void> {
  const events = [];
  for (let version = 1; version <= versions; version++) for (let i = 0; i < entities; i++) events.push({ aggregateId: `${prefix}-${i}`, version, metadata: { i, version } });
  await insertEvents(t().pool, events);
}

describe('the relay as a process', () => {
  // The kill must land while the relay holds claims, or the restart proves
  // nothing about lease expiry: MongoDB is reached through a proxy that is
  // stalled mid-drain, so the batches in flight hang with their rows claimed
  // (and their lease renewed) until the kill.
  it('after kill -9 while holding claims, the rows it held come back only when their lease runs out, and everything is delivered and correct', async () => {
    // 10,000 events: a claim of 100 entities takes their 1,000 rows, and a pipelined
    // worker holds up to three batches (recording, at the sink, claimed ahead), so
    // two workers may hold 6,000 rows; the backlog must outlast that to show a mid-drain death.
    await loadBacklog('killed', 1000, 10);
    const target = new URL(t().mongoUrl);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 27017));
    const throughProxy = new URL(t().mongoUrl);
    throughProxy.port = String(proxy.port);
    let held: { id: string; claimed_until: Date }[];
    try {
      const env = testRelayEnv(t(), { OUTBOX_RELAY_ID: 'killed-relay', OUTBOX_RELAY_BATCH_SIZE: '100', OUTBOX_RELAY_LEASE_MS: '2000', MONGO_URL: throughProxy.toString() });
      const first = await startRelayProcess(env);
      await waitFor(async () => (await outboxCounts(t().pool)).delivered > 0, { timeoutMs: 20_000, intervalMs: 5 });
      proxy.stall();
      const heldNow = async () => (await t().pool.query<{ id: string; claimed_until: Date }>(`SELECT id::text, claimed_until FROM outbox WHERE claimed_by = 'killed-relay'`)).rows;
      // Stuck for sure: a batch claimed after the stall, or one whose lease was
      // renewed after it (still in hand a renewal later). A batch whose write
      // was answered just before the stall would be marked delivered instead.
      const atStall = new Map((await heldNow()).map((r) => [r.id, r.claimed_until.getTime()]));
      await waitFor(async () => (await heldNow()).some((r) => r.claimed_until.getTime() > (atStall.get(r.id) ?? 0)), { timeoutMs: 20_000, message: 'the relay holds claims on a stalled batch' });
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      // A COMMIT the relay sent just before dying still lands: read what it holds once its sessions are gone.
      await waitFor(async () => (await t().pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'outbox-relay:killed-relay'`)).rows[0].n === 0, { timeoutMs: 20_000 });
      held = (await t().pool.query<{ id: string; claimed_until: Date }>(`SELECT id::text, claimed_until FROM outbox WHERE claimed_by = 'killed-relay' ORDER BY id`)).rows;
    } finally {
      await proxy.close();
    }
    expect(held.length, 'rows claimed by the killed relay at the kill').toBeGreaterThan(0);
    expect((await outboxCounts(t().pool)).pending).toBeGreaterThan(held.length); // it really died mid-drain

    const second = await startRelayProcess(testRelayEnv(t(), { OUTBOX_RELAY_ID: 'successor', OUTBOX_RELAY_BATCH_SIZE: '100', OUTBOX_RELAY_LEASE_MS: '2000' }));
    try {
      await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 60_000 });
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    expect(await outboxCounts(t().pool)).toMatchObject({ pending: 0, dead: 0, delivered: 10000, claimed: 0 });
    // The killed relay's rows were taken over by the successor, after their lease ran out, not before.
    const takenOver = await t().pool.query<{ id: string; delivered_by: string; delivered_at: Date }>(`SELECT id::text, delivered_by, delivered_at FROM outbox_delivered WHERE id = ANY($1::bigint[]) ORDER BY id`, [held.map((h) => h.id)]);
    expect(takenOver.rows.map((r) => r.id)).toEqual(held.map((h) => h.id));
    for (const [i, row] of takenOver.rows.entries()) {
      expect(row.delivered_by).toBe('successor');
      expect(row.delivered_at.getTime(), `row ${row.id} delivered before its lease ran out`).toBeGreaterThanOrEqual((held[i] as { claimed_until: Date }).claimed_until.getTime());
    }
    const docs = await t().mongoDb.collection('transaction_metadata').find({ _id: { $regex: '^killed-' } as never }).toArray();
    expect(docs).toHaveLength(1000);
    for (const doc of docs) expect(doc).toMatchObject({ version: 10, metadata: { version: 10 } });
  });

  it('on SIGTERM during a drain it exits 0 within the shutdown timeout and leaves no row claimed by itself', async () => {
    const deliveredBefore = (await outboxCounts(t().pool)).delivered;
    await loadBacklog('sigterm', 2000, 5); // 10,000 events
    const relay = await startRelayProcess(testRelayEnv(t(), { OUTBOX_RELAY_ID: 'sigterm-relay', OUTBOX_RELAY_BATCH_SIZE: '50', OUTBOX_RELAY_SHUTDOWN_TIMEOUT_MS: '5000' }));
    await waitFor(async () => (await outboxCounts(t().pool)).delivered > 0, { timeoutMs: 20_000, intervalMs: 5 });
    const signalledAt = Date.now();
    relay.child.kill('SIGTERM');
    const exit = await relay.exited;
    const tookMs = Date.now() - signalledAt;
    expect(exit).toEqual({ code: 0, signal: null });
    // The shutdown timeout (5 s), then releasing and closing (bounded at 2 s):
    // the bound only rules out a hang (a MongoDB close once held the exit 15 s
    // past the timeout), with room for a loaded 2-core machine.
    expect(tookMs).toBeLessThan(5000 + 10_000);
    const counts = await outboxCounts(t().pool);
    expect(counts.claimed).toBe(0); // nothing left held by the stopped relay
    expect(counts.pending).toBeGreaterThan(0); // it stopped mid-drain, not after
    const registry = await t().pool.query(`SELECT stopped_at, delivered_count FROM outbox_relay WHERE id = 'sigterm-relay'`);
    expect(registry.rows[0].stopped_at).not.toBeNull();
    // Its final heartbeat recorded what it delivered.
    expect(Number(registry.rows[0].delivered_count)).toBe(counts.delivered - deliveredBefore);
  });
});
