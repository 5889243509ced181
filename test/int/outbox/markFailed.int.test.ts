import { beforeEach, describe, expect, it } from 'vitest';
import { claimBatch } from '../../../src/outbox/claimBatch.ts';
import { MAX_ERROR_LENGTH, markFailed } from '../../../src/outbox/markFailed.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { clearTables, insertRows, readRows } from './outboxRows.ts';

const t = useTestDatabases();
const backoff = { baseMs: 10_000, maxMs: 80_000 };
/** Top of the equal-jitter range: the delay is exactly the capped exponential. */
const noJitter = () => 0.999_999_999;

beforeEach(async () => {
  await clearTables(t().pool);
});

async function claimAll(relayId = 'relay-a') {
  // Backoff pushed available_at into the future; pull it back so the row can be claimed again.
  await t().pool.query(`UPDATE outbox SET available_at = now() WHERE status = 'pending' AND claimed_by IS NULL`);
  return claimBatch(t().db, { relayId, batchSize: 1_000, leaseMs: 30_000 });
}

describe('markFailed', () => {
  it('counts the attempt, keeps the error, releases the claim and schedules the retry with backoff', async () => {
    const { ids } = await insertRows(t().pool, 2);
    await claimAll();
    const result = await markFailed(t().db, {
      relayId: 'relay-a',
      failures: [
        { id: ids[0]!, error: 'document too large' },
        { id: ids[1]!, error: 'x'.repeat(10_000) },
      ],
      maxAttempts: 5,
      backoff,
      random: noJitter,
    });
    expect(result).toEqual({ retried: ids, dead: [] });
    const rows = await readRows(t().pool, ids);
    const first = rows.get(ids[0]!)!;
    expect(first).toMatchObject({ status: 'pending', attempts: 1, last_error: 'document too large', claimed_by: null, claimed_until: null, dead_at: null });
    expect(first.available_in_ms).toBeGreaterThan(9_000);
    expect(first.available_in_ms).toBeLessThanOrEqual(10_000);
    expect(rows.get(ids[1]!)!.last_error!.length).toBe(MAX_ERROR_LENGTH);
    // Not claimable while backing off.
    expect(await claimBatch(t().db, { relayId: 'relay-a', batchSize: 100, leaseMs: 30_000 })).toEqual([]);
  });

  it('the delay grows with each failure and is capped', async () => {
    const { ids } = await insertRows(t().pool, 1);
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      await claimAll();
      await markFailed(t().db, { relayId: 'relay-a', failures: [{ id: ids[0]!, error: `boom ${i}` }], maxAttempts: 100, backoff, random: noJitter });
      const row = (await readRows(t().pool, ids)).get(ids[0]!)!;
      expect(row.attempts).toBe(i + 1);
      expect(row.last_error).toBe(`boom ${i}`);
      delays.push(Math.round(row.available_in_ms / 1_000));
    }
    expect(delays).toEqual([10, 20, 40, 80, 80, 80]);
  });

  it('jitter stays within the equal-jitter range', async () => {
    const { ids } = await insertRows(t().pool, 200);
    await claimAll();
    await markFailed(t().db, { relayId: 'relay-a', failures: ids.map((id) => ({ id, error: 'e' })), maxAttempts: 5, backoff });
    const delays = [...(await readRows(t().pool, ids)).values()].map((r) => r.available_in_ms);
    expect(Math.min(...delays)).toBeGreaterThan(5_000 - 1_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(10_000);
    expect(new Set(delays.map((d) => Math.round(d / 100))).size).toBeGreaterThan(10);
  });

  it('each row in a batch gets the delay for its own attempt count', async () => {
    const { ids: a } = await insertRows(t().pool, 1);
    const { ids: b } = await insertRows(t().pool, 1, { attempts: 2 });
    const { ids: c } = await insertRows(t().pool, 1, { attempts: 1 });
    await claimAll();
    const order = [...c, ...a, ...b];
    await markFailed(t().db, { relayId: 'relay-a', failures: order.map((id) => ({ id, error: 'e' })), maxAttempts: 10, backoff, random: noJitter });
    const rows = await readRows(t().pool, order);
    expect(order.map((id) => Math.round(rows.get(id)!.available_in_ms / 1_000))).toEqual([20, 10, 40]);
  });

  it('the maxAttempts-th failure parks the row as dead, with its last error', async () => {
    const { ids } = await insertRows(t().pool, 1);
    for (let attempt = 1; attempt <= 3; attempt++) {
      await claimAll();
      const result = await markFailed(t().db, { relayId: 'relay-a', failures: [{ id: ids[0]!, error: `failure ${attempt}` }], maxAttempts: 3, backoff });
      expect(result).toEqual(attempt < 3 ? { retried: ids, dead: [] } : { retried: [], dead: ids });
    }
    const row = (await readRows(t().pool, ids)).get(ids[0]!)!;
    expect(row).toMatchObject({ status: 'dead', attempts: 3, last_error: 'failure 3', claimed_by: null });
    expect(row.dead_at).toBeInstanceOf(Date);
    expect(await claimAll()).toEqual([]);
  });

  it('mixes retried and dead rows in one batch', async () => {
    const { ids: fresh } = await insertRows(t().pool, 1);
    const { ids: tired } = await insertRows(t().pool, 1, { attempts: 4 });
    await claimAll();
    const result = await markFailed(t().db, {
      relayId: 'relay-a',
      failures: [...fresh, ...tired].map((id) => ({ id, error: 'bad' })),
      maxAttempts: 5,
      backoff,
    });
    expect(result).toEqual({ retried: fresh, dead: tired });
  });

  it('leaves rows this relay no longer holds untouched', async () => {
    const { ids } = await insertRows(t().pool, 1);
    await claimAll('relay-a');
    await t().pool.query(`UPDATE outbox SET claimed_until = now() - interval '1 second'`);
    await claimBatch(t().db, { relayId: 'relay-b', batchSize: 10, leaseMs: 30_000 });
    const result = await markFailed(t().db, { relayId: 'relay-a', failures: [{ id: ids[0]!, error: 'late' }], maxAttempts: 1, backoff });
    expect(result).toEqual({ retried: [], dead: [] });
    expect((await readRows(t().pool, ids)).get(ids[0]!)).toMatchObject({ status: 'pending', attempts: 0, last_error: null, claimed_by: 'relay-b' });
  });
});
