import { describe, expect, it } from 'vitest';
import { createPool } from '../../../src/db/pool.ts';
import { poolDb } from '../../../src/db/toSqlDb.ts';
import { claimBatch } from '../../../src/outbox/claimBatch.ts';
import { markDelivered } from '../../../src/outbox/markDelivered.ts';
import { insertEvents } from '../../helpers/outboxFixtures.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';

const t = useTestDatabases();

/** The relay's hot statements on a one-connection pool in `poolMode`; which named statements that connection then holds. */
async function preparedAfterClaiming(poolMode: 'transaction' | 'session', prefix: string): Promise<string[]> {
  await insertEvents(t().pool, [1, 2, 3].map((i) => ({ aggregateId: `${prefix}-${i}`, version: 1, metadata: { i } })));
  const pool = createPool(t().databaseUrl, { max: 1 });
  try {
    const db = poolDb(pool, poolMode);
    const claimed = [...(await claimBatch(db, { relayId: prefix, batchSize: 2, leaseMs: 10_000 })), ...(await claimBatch(db, { relayId: prefix, batchSize: 2, leaseMs: 10_000 }))];
    expect(claimed.map((e) => e.aggregateId).sort()).toEqual([1, 2, 3].map((i) => `${prefix}-${i}`));
    expect((await markDelivered(db, { relayId: prefix, ids: claimed.map((e) => e.id) })).delivered).toHaveLength(3);
    const { rows } = await pool.query<{ name: string }>('SELECT name FROM pg_prepared_statements ORDER BY name');
    return rows.map((r) => r.name);
  } finally {
    await pool.end();
  }
}

describe('statement naming by pool mode', () => {
  it('transaction mode (the default) leaves no named prepared statement on the server connection', async () => {
    expect(await preparedAfterClaiming('transaction', 'tx-mode')).toEqual([]);
  });

  it('session mode prepares the hot statements once per connection and reuses them', async () => {
    expect(await preparedAfterClaiming('session', 'session-mode')).toEqual(['outbox_claim_batch', 'outbox_mark_delivered']);
  });
});
