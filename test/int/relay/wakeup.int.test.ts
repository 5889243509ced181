import { afterEach, describe, expect, it } from 'vitest';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { sleep, waitFor } from '../../helpers/waitFor.ts';

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

describe('wake-up', () => {
  it('delivers a posting through NOTIFY well inside a 60 s poll interval', async () => {
    await createBalance(t().db, { account: 'world', asset: 'EUR', allowNegative: true });
    await createBalance(t().db, { account: 'alice', asset: 'EUR' });
    relay = createRelay(testRelayConfig(t(), { pollIntervalMs: 60_000 }));
    await relay.start();
    await sleep(300); // the start-up catch-up drain is over; only NOTIFY can wake it now
    const startedAt = Date.now();
    const posted = await post('notify-1');
    const doc = await waitFor(() => t().mongoDb.collection('transaction_metadata').findOne({ _id: posted.transactionId as never }), { timeoutMs: 10_000, intervalMs: 5 });
    const latencyMs = Date.now() - startedAt;
    expect(doc).toMatchObject({ version: 1, metadata: { key: 'notify-1' } });
    await waitFor(async () => (await t().mongoDb.collection('operation_metadata').countDocuments({ _id: { $in: posted.operationIds as never[] } })) === 2);
    console.log(`commit-to-applied through NOTIFY (post + visible in MongoDB): ${latencyMs} ms`);
    expect(latencyMs).toBeLessThan(5_000);
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
    await sleep(300);
    const killed = await t().pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'outbox-relay-listen:%'`);
    expect(killed.rowCount).toBe(1);
    // Written while the listener is away: only the reconnect's catch-up drain can find it.
    await insertEvents(t().pool, [{ aggregateId: 'during-outage', version: 1, metadata: { at: 'outage' } }]);
    await waitFor(() => t().mongoDb.collection('transaction_metadata').findOne({ _id: 'during-outage' as never }), { timeoutMs: 15_000, message: 'catch-up after reconnect' });
    await waitFor(async () => (await t().pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'outbox-relay-listen:%' AND query ILIKE 'LISTEN%'`)).rowCount === 1, { timeoutMs: 10_000 });
    const before = Date.now();
    await insertEvents(t().pool, [{ aggregateId: 'after-reconnect', version: 1, metadata: { at: 'after' } }]);
    await waitFor(() => t().mongoDb.collection('transaction_metadata').findOne({ _id: 'after-reconnect' as never }), { timeoutMs: 10_000, message: 'NOTIFY after reconnect' });
    expect(Date.now() - before).toBeLessThan(5_000);
    expect((await relay.metrics.listenerReconnects.get()).values[0]?.value ?? 0).toBeGreaterThanOrEqual(1);
  });
});
