import { describe, expect, it } from 'vitest';
import { insertEvents, outboxCounts } from '../helpers/outboxFixtures.ts';
import { testRelayEnv } from '../helpers/relayConfig.ts';
import { startRelayProcess } from '../helpers/relayProcess.ts';
import { useTestDatabases } from '../helpers/testDatabases.ts';
import { waitFor } from '../helpers/waitFor.ts';

const t = useTestDatabases();

async function loadBacklog(prefix: string, entities: number, versions: number): Promise<void> {
  const events = [];
  for (let version = 1; version <= versions; version++) for (let i = 0; i < entities; i++) events.push({ aggregateId: `${prefix}-${i}`, version, metadata: { i, version } });
  await insertEvents(t().pool, events);
}

describe('the relay as a process', () => {
  it('after kill -9 mid-drain and a restart, everything is delivered and correct once the lease runs out', async () => {
    await loadBacklog('killed', 500, 10); // 5,000 events
    const env = testRelayEnv(t(), { OUTBOX_RELAY_BATCH_SIZE: '100', OUTBOX_RELAY_LEASE_MS: '2000' });
    const first = await startRelayProcess(env);
    await waitFor(async () => (await outboxCounts(t().pool)).delivered > 0, { timeoutMs: 20_000, intervalMs: 5 });
    first.child.kill('SIGKILL');
    await first.exited;
    const atKill = await outboxCounts(t().pool);
    expect(atKill.pending).toBeGreaterThan(0); // it really died mid-drain
    const second = await startRelayProcess(env);
    try {
      await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 60_000 });
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    expect(await outboxCounts(t().pool)).toMatchObject({ pending: 0, dead: 0, delivered: 5000, claimed: 0 });
    const docs = await t().mongoDb.collection('transaction_metadata').find({ _id: { $regex: '^killed-' } as never }).toArray();
    expect(docs).toHaveLength(500);
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
    expect(tookMs).toBeLessThan(5000 + 2000);
    const counts = await outboxCounts(t().pool);
    expect(counts.claimed).toBe(0); // nothing left held by the stopped relay
    expect(counts.pending).toBeGreaterThan(0); // it stopped mid-drain, not after
    const registry = await t().pool.query(`SELECT stopped_at, delivered_count FROM outbox_relay WHERE id = 'sigterm-relay'`);
    expect(registry.rows[0].stopped_at).not.toBeNull();
    // Its final heartbeat recorded what it delivered.
    expect(Number(registry.rows[0].delivered_count)).toBe(counts.delivered - deliveredBefore);
  });
});
