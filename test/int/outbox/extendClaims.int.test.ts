import { beforeEach, describe, expect, it } from 'vitest';
import { claimBatch } from '../../../src/outbox/claimBatch.ts';
import { extendClaims } from '../../../src/outbox/extendClaims.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { clearTables, insertRows, readRows } from './outboxRows.ts';

const t = useTestDatabases();

beforeEach(async () => {
  await clearTables(t().pool);
});

describe('extendClaims', () => {
  it('pushes the lease of rows this relay holds, so nobody can claim them when the first lease would have run out', async () => {
    const { ids } = await insertRows(t().pool, 3);
    await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 300 });
    const firstLeaseEnds = (await readRows(t().pool, ids)).get(ids[0]!)!.claimed_until!;
    expect(await extendClaims(t().db, { relayId: 'relay-a', ids, leaseMs: 60_000 })).toBe(3);
    await waitFor(async () => (await t().pool.query(`SELECT clock_timestamp() > $1::timestamptz + interval '1 millisecond' AS past`, [firstLeaseEnds])).rows[0].past, { message: 'the first lease running out' });
    expect(await claimBatch(t().db, { relayId: 'relay-b', batchSize: 10, leaseMs: 60_000 })).toEqual([]);
    const rows = await readRows(t().pool, ids);
    expect(ids.map((id) => rows.get(id)!.claimed_by)).toEqual(['relay-a', 'relay-a', 'relay-a']);
  });

  it('leaves rows another relay reclaimed after our lease ran out with that relay', async () => {
    const { ids } = await insertRows(t().pool, 2);
    await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 100 });
    const reclaimed = await waitFor(async () => {
      const events = await claimBatch(t().db, { relayId: 'relay-b', batchSize: 10, leaseMs: 60_000 });
      return events.length > 0 ? events : undefined;
    }, { message: 'relay-b reclaiming after the lease' });
    expect(reclaimed.map((e) => e.id)).toEqual(ids);
    expect(await extendClaims(t().db, { relayId: 'relay-a', ids, leaseMs: 60_000 })).toBe(0);
    const rows = await readRows(t().pool, ids);
    expect(ids.map((id) => rows.get(id)!.claimed_by)).toEqual(['relay-b', 'relay-b']);
  });

  it('refuses a lease that is not positive', async () => {
    await expect(extendClaims(t().db, { relayId: 'relay-a', ids: [1], leaseMs: 0 })).rejects.toThrow(RangeError);
  });
});
