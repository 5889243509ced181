import { afterEach, describe, expect, it } from 'vitest';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
let relay: Relay | undefined;
afterEach(async () => {
  await relay?.stop();
  relay = undefined;
});

async function post(key: string): Promise<{ transactionId: string; operationIds: string[] }> {
  return postTransaction(t().db, {
    idempotencyKey: key,
    metadata: { key },
    entries: [
      { account: 'world', asset: 'EUR', direction: 'debit', amount: 100n, metadata: { leg: 'out' } },
      { account: 'alice', asset: 'EUR', direction: 'credit', amount: 100n, metadata: { leg: 'in' } },
    ],
  });
}

/**
 * The relay is idle and listening: its catch-up drain ran out of work and told
 * writers to notify (outbox_wakeup), and its LISTEN connection is up. From
 * here on, with a minute's poll, only a notification wakes it.
 */
async function relayWaitsForNotify(running: Relay): Promise<void> {
  await waitFor(async () => (await t().pool.query(`SELECT 1 FROM outbox_wakeup WHERE relay_waiting`)).rowCount === 1, { message: 'relay idle (outbox_wakeup.relay_waiting)' });
  await waitFor(async () => (await running.metrics.listenerConnected.get()).values[0]?.value === 1, { message: 'listener connected' });
  await waitFor(async () => (await t().pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'outbox-relay-listen:%' AND query ILIKE 'LISTEN%'`)).rowCount === 1, { message: 'LISTEN issued' });
}

describe('wake-up', () => {
  it('delivers a posting through NOTIFY well inside a 60 s poll interval', async () => {
    await createBalance(t().db, { account: 'world', asset: 'EUR', allowNegative: true });
    await createBalance(t().db, { account: 'alice', asset: 'EUR' });
    relay = createRelay(testRelayConfig(t(), { pollIntervalMs: 60_000 }));
    await relay.start();
    await relayWaitsForNotify(relay);
    const startedAt = Date.now();
    const posted = await post('notify-1');
    const doc = await waitFor(() => t().mongoDb.collection('transaction_metadata').findOne({ _id: posted.transactionId as never }), { timeoutMs: 10_000, intervalMs: 5 });
    const latencyMs = Date.now() - startedAt;
    expect(doc).toMatchObject({ version: 1, metadata: { key: 'notify-1' } });
    await waitFor(async () => (await t().mongoDb.collection('operation_metadata').countDocuments({ _id: { $in: posted.operationIds as never[] } })) === 2);
    console.log(`commit-to-applied through NOTIFY (post + visible in MongoDB): ${latencyMs} ms`);
    // The next poll is a minute after start; half of that is a bound no loaded machine reaches.
    expect(latencyMs).toBeLessThan(30_000);
  });

  it('with the listener disabled, polling alone delivers everything', async () => {
    const events = Array.from({ length: 300 }, (_, i) => ({ aggregateId: `poll-${i}`, version: 1, metadata: { i } }));
    relay = createRelay(testRelayConfig(t(), { listen: false, pollIntervalMs: 100, batchSize: 50 }));
    await relay.start();
    await insertEvents(t().pool, events);
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 20_000 });
    expect(await t().mongoDb.collection('transaction_metadata').countDocuments({ _id: { $regex: '^poll-' } as never })).toBe(300);
    expect((await outboxCounts(t().pool)).dead).toBe(0);
  });

  it('after pg_terminate_backend on the listener connection it reconnects, catches up, and NOTIFY works again', async () => {
    relay = createRelay(testRelayConfig(t(), { pollIntervalMs: 60_000, heartbeatMs: 300 }));
    await relay.start();
    await relayWaitsForNotify(relay);
    const killed = await t().pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'outbox-relay-listen:%'`);
    expect(killed.rowCount).toBe(1);
    // Written while the listener is away: only the reconnect's catch-up drain can find it.
    await insertEvents(t().pool, [{ aggregateId: 'during-outage', version: 1, metadata: { at: 'outage' } }]);
    await waitFor(() => t().mongoDb.collection('transaction_metadata').findOne({ _id: 'during-outage' as never }), { timeoutMs: 15_000, message: 'catch-up after reconnect' });
    await waitFor(async () => (await t().pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'outbox-relay-listen:%' AND query ILIKE 'LISTEN%'`)).rowCount === 1, { timeoutMs: 10_000 });
    await relayWaitsForNotify(relay);
    const before = Date.now();
    await insertEvents(t().pool, [{ aggregateId: 'after-reconnect', version: 1, metadata: { at: 'after' } }]);
    await waitFor(() => t().mongoDb.collection('transaction_metadata').findOne({ _id: 'after-reconnect' as never }), { timeoutMs: 30_000, message: 'NOTIFY after reconnect' });
    expect(Date.now() - before).toBeLessThan(30_000); // the poll is a minute away
    expect((await relay.metrics.listenerReconnects.get()).values[0]?.value ?? 0).toBeGreaterThanOrEqual(1);
  });
});
