import { beforeEach, describe, expect, it } from 'vitest';
import { claimBatch } from '../../../src/outbox/claimBatch.ts';
import { releaseClaims } from '../../../src/outbox/releaseClaims.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { clearTables, insertRows, readRows } from './outboxRows.ts';

const t = useTestDatabases();
const claim = (relayId: string, batchSize = 100) => claimBatch(t().db, { relayId, batchSize, leaseMs: 60_000 });

beforeEach(async () => {
  await clearTables(t().pool);
});

describe('releaseClaims', () => {
  it('released rows are claimable at once by anyone, attempts unchanged', async () => {
    const { ids } = await insertRows(t().pool, 3, { attempts: 2 });
    await claim('relay-a');
    expect(await claim('relay-b')).toEqual([]);
    expect(await releaseClaims(t().db, { relayId: 'relay-a', ids })).toBe(3);
    const again = await claim('relay-b');
    expect(again.map((e) => [e.id, e.attempts])).toEqual(ids.map((id) => [id, 2]));
  });

  it('without ids releases all of this relay’s rows and none of another’s', async () => {
    const { ids } = await insertRows(t().pool, 4);
    await claim('relay-a', 2);
    await claim('relay-b', 2);
    expect(await releaseClaims(t().db, { relayId: 'relay-a' })).toBe(2);
    const rows = await readRows(t().pool, ids);
    expect(ids.map((id) => rows.get(id)!.claimed_by)).toEqual([null, null, 'relay-b', 'relay-b']);
    expect(ids.map((id) => rows.get(id)!.attempts)).toEqual([0, 0, 0, 0]);
  });

  it('with ids releases only those, and only if this relay holds them', async () => {
    const { ids } = await insertRows(t().pool, 3);
    await claim('relay-a', 2);
    await claim('relay-b', 1);
    expect(await releaseClaims(t().db, { relayId: 'relay-a', ids: [ids[0]!, ids[2]!] })).toBe(1);
    const rows = await readRows(t().pool, ids);
    expect(ids.map((id) => rows.get(id)!.claimed_by)).toEqual([null, 'relay-a', 'relay-b']);
  });

  it('delayMs holds the rows back without counting an attempt', async () => {
    const { ids } = await insertRows(t().pool, 1);
    await claim('relay-a');
    expect(await releaseClaims(t().db, { relayId: 'relay-a', ids, delayMs: 5_000 })).toBe(1);
    expect(await claim('relay-b')).toEqual([]);
    const row = (await readRows(t().pool, ids)).get(ids[0]!)!;
    expect(row).toMatchObject({ attempts: 0, claimed_by: null, status: 'pending' });
    expect(row.available_in_ms).toBeGreaterThan(4_000);
    expect(row.available_in_ms).toBeLessThanOrEqual(5_000);
  });
});
