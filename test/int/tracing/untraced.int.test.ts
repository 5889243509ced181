/**
 * Without an OpenTelemetry SDK (the default for writers and relays) nothing
 * is stored in trace_context; and the time-in-outbox histogram counts every
 * delivered event exactly once, across relays.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import { updateTransactionMetadata } from '../../../src/ledger/updateMetadata.ts';
import { enqueue } from '../../../src/outbox/enqueue.ts';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import { outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
let relays: Relay[] = [];
beforeAll(async () => {
  await createBalance(t().db, { account: 'world', asset: 'EUR', allowNegative: true });
  for (const account of ['a', 'b', 'c']) await createBalance(t().db, { account, asset: 'EUR' });
});
afterEach(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  relays = [];
});

async function post(i: number): Promise<string> {
  const account = ['a', 'b', 'c'][i % 3]!;
  const { transactionId } = await postTransaction(t().db, {
    idempotencyKey: `untraced-${i}`,
    metadata: { i },
    entries: [
      { account: 'world', asset: 'EUR', direction: 'debit', amount: 10n, metadata: { side: 'debit' } },
      { account, asset: 'EUR', direction: 'credit', amount: 10n, ...(i % 2 === 0 ? { metadata: { side: 'credit' } } : {}) },
    ],
  });
  return transactionId;
}

describe('with no OpenTelemetry SDK registered', () => {
  it('postTransaction, updateTransactionMetadata and enqueue write no trace context', async () => {
    const transactionId = await post(0);
    await updateTransactionMetadata(t().db, transactionId, { updated: true });
    const client = await t().pool.connect();
    try {
      await client.query('BEGIN');
      await enqueue(client, { aggregateType: 'transaction', aggregateId: 'plain', version: 1, payload: { metadata: {} } });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const { rows } = await t().pool.query(`SELECT count(*)::int AS n, count(trace_context)::int AS traced FROM outbox`);
    expect(rows[0]).toEqual({ n: 5, traced: 0 });
  });
});

describe('time in outbox', () => {
  it('the histogram counts every delivered event exactly once, per aggregate type, across two relays', async () => {
    for (let i = 1; i <= 60; i++) {
      const transactionId = await post(i);
      if (i % 5 === 0) await updateTransactionMetadata(t().db, transactionId, { reviewed: i });
    }
    const config = { batchSize: 7, concurrency: 2 };
    relays = [createRelay(testRelayConfig(t(), config)), createRelay(testRelayConfig(t(), config))];
    await Promise.all(relays.map((r) => r.start()));
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 60_000 });

    const { rows } = await t().pool.query<{ aggregate_type: string; n: number }>(`SELECT aggregate_type, count(*)::int AS n FROM outbox_delivered GROUP BY 1 ORDER BY 1`);
    const deliveredRows = Object.fromEntries(rows.map((r) => [r.aggregate_type, r.n]));
    const histogramCounts: Record<string, number> = {};
    let deliveredCounter = 0;
    for (const relay of relays) {
      for (const v of (await relay.metrics.commitToApplied.get()).values) {
        if (v.metricName !== 'outbox_relay_commit_to_applied_seconds_count') continue;
        const type = String(v.labels.aggregate_type);
        histogramCounts[type] = (histogramCounts[type] ?? 0) + v.value;
      }
      deliveredCounter += (await relay.metrics.delivered.get()).values.reduce((sum, v) => sum + v.value, 0);
    }
    // Here: 60 transactions + 12 updates, 60 debit and 30 credit operation events;
    // plus the first test's 3 transaction and 2 operation events.
    expect(deliveredRows).toEqual({ operation: 92, transaction: 75 });
    expect(histogramCounts).toEqual(deliveredRows);
    expect(deliveredCounter).toBe(167);
  });
});
