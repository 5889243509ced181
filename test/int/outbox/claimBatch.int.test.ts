import { beforeEach, describe, expect, it } from 'vitest';
import { CLAIM_BATCH_SQL, claimBatch } from '../../../src/outbox/claimBatch.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { clearTables, insertRows, readRows } from './outboxRows.ts';

const t = useTestDatabases();

beforeEach(async () => {
  await clearTables(t().pool);
});

describe('claimBatch', () => {
  it('returns the claimed events mapped to OutboxEvent, in id order, stamped with our lease', async () => {
    const { ids, eventIds } = await insertRows(t().pool, 3);
    const events = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000 });
    expect(events.map((e) => e.id)).toEqual(ids);
    const first = events[0]!;
    expect(first).toEqual({
      id: ids[0],
      eventId: eventIds[0],
      aggregateType: 'transaction',
      aggregateId: 'agg-1',
      version: 1,
      eventType: 'metadata.upserted',
      payload: { metadata: { n: 1 } },
      createdAt: expect.any(Date),
      attempts: 0,
      traceContext: null,
    });
    expect(typeof first.id).toBe('number');
    const rows = await readRows(t().pool, ids);
    for (const id of ids) {
      const row = rows.get(id)!;
      expect(row.claimed_by).toBe('relay-a');
      const leaseLeftMs = row.claimed_until!.getTime() - Date.now();
      expect(leaseLeftMs).toBeGreaterThan(20_000);
      expect(leaseLeftMs).toBeLessThan(40_000);
    }
  });

  it('takes at most batchSize rows, lowest ids first', async () => {
    const { ids } = await insertRows(t().pool, 25);
    const events = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000 });
    expect(events.map((e) => e.id)).toEqual(ids.slice(0, 10));
  });

  it('stops before the row whose payload would take the batch past maxBytes, always takes the first, and leaves the rest pending', async () => {
    const { ids } = await insertRows(t().pool, 5, { aggregatePrefix: 'bytes-' });
    // ~1,030 bytes of JSON per payload: {"metadata": {"blob": "xxx…"}}.
    await t().pool.query(`UPDATE outbox SET payload = jsonb_build_object('metadata', jsonb_build_object('blob', repeat('x', 1000))) WHERE id = ANY($1::bigint[])`, [ids]);
    const bounded = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000, maxBytes: 2_500 });
    expect(bounded.map((e) => e.id)).toEqual(ids.slice(0, 3));
    // Short of batchSize, yet not drained: the result says the bound cut it.
    expect(bounded.cutByBytes).toBe(true);
    // A bound smaller than one payload still takes one row, so a large event is never stuck.
    const one = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000, maxBytes: 10 });
    expect(one.map((e) => e.id)).toEqual(ids.slice(3, 4));
    const rows = await readRows(t().pool, ids);
    expect(rows.get(ids[4]!)?.claimed_by).toBeNull();
    const rest = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000 });
    expect(rest.map((e) => e.id)).toEqual(ids.slice(4));
    expect(rest.cutByBytes).toBe(false);
  });

  it('two concurrent claimers over 1,000 pending rows get disjoint sets that together cover all', async () => {
    // Entities of their own: rows of earlier tests in this file still hold
    // live leases on 'agg-n', and a claim never splits an entity across relays.
    const { ids } = await insertRows(t().pool, 1_000, { aggregatePrefix: 'concurrent-' });
    const claimAll = async (relayId: string) => {
      const got: number[] = [];
      // 1,000 / 37 needs 28 rounds for one claimer alone; a claim that hands
      // out leased rows again would never run dry.
      for (let round = 0; round < 60; round++) {
        const events = await claimBatch(t().db, { relayId, batchSize: 37, leaseMs: 60_000 });
        if (events.length === 0) return got;
        got.push(...events.map((e) => e.id));
      }
      throw new Error(`${relayId} was still getting rows after 60 rounds: leased rows are handed out again`);
    };
    const [a, b] = await Promise.all([claimAll('relay-a'), claimAll('relay-b')]);
    expect(a.length).toBeGreaterThan(0);
    expect(b.length).toBeGreaterThan(0);
    const aSet = new Set(a);
    expect(b.filter((id) => aSet.has(id))).toEqual([]);
    expect(new Set(a).size).toBe(a.length);
    expect(new Set(b).size).toBe(b.length);
    expect([...a, ...b].sort((x, y) => x - y)).toEqual(ids);
    // And each row is stamped by the relay that got it.
    const { rows } = await t().pool.query<{ claimed_by: string; n: number }>('SELECT claimed_by, count(*)::int AS n FROM outbox GROUP BY claimed_by ORDER BY claimed_by');
    expect(rows).toEqual([
      { claimed_by: 'relay-a', n: a.length },
      { claimed_by: 'relay-b', n: b.length },
    ]);
  });

  it('does not claim dead rows, rows not yet available, or rows under a live lease', async () => {
    await insertRows(t().pool, 3, { status: 'dead', attempts: 5, aggregatePrefix: 'dead-' });
    await insertRows(t().pool, 3, { availableInMs: 60_000, aggregatePrefix: 'later-' });
    await insertRows(t().pool, 3, { claimedBy: 'relay-other', claimedForMs: 60_000, aggregatePrefix: 'leased-' });
    const { ids: claimable } = await insertRows(t().pool, 2, { aggregatePrefix: 'free-' });
    const events = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 100, leaseMs: 30_000 });
    expect(events.map((e) => e.id)).toEqual(claimable);
    expect(await claimBatch(t().db, { relayId: 'relay-b', batchSize: 100, leaseMs: 30_000 })).toEqual([]);
  });

  // The holder's sink write may still be running: another relay's, or this
  // relay's other worker's (or, when it claims ahead, the batch at its sink).
  it.each([
    { holder: 'another relay', claimedBy: 'relay-other' },
    { holder: 'another batch of the same relay', claimedBy: 'relay-a' },
  ])('never hands out an entity while $holder holds one of its events under a live lease', async ({ claimedBy }) => {
    await insertRows(t().pool, 1, { claimedBy, claimedForMs: 60_000, aggregatePrefix: 'busy-' });
    const { ids: sameEntity } = await insertRows(t().pool, 1, { aggregatePrefix: 'busy-' });
    const { ids: otherEntity } = await insertRows(t().pool, 1, { aggregatePrefix: 'idle-' });
    const events = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000 });
    expect(events.map((e) => e.id)).toEqual(otherEntity);
    expect(events.map((e) => e.id)).not.toContain(sameEntity[0]);
  });

  it('takes the other claimable events of the entities it picks, so no concurrent claim can split an entity', async () => {
    const { ids } = await insertRows(t().pool, 1, { aggregatePrefix: 'split-' });
    const { ids: later } = await insertRows(t().pool, 1, { aggregatePrefix: 'split-' });
    const events = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 1, leaseMs: 30_000 });
    expect(events.map((e) => e.id)).toEqual([...ids, ...later]);
  });

  it('a row whose lease ran out is claimed again, by another relay', async () => {
    const { ids } = await insertRows(t().pool, 2);
    // A lease long enough that the check below always runs inside it, even on a loaded machine.
    const first = await claimBatch(t().db, { relayId: 'relay-crashed', batchSize: 10, leaseMs: 3_000 });
    expect(first.map((e) => e.id)).toEqual(ids);
    // Still leased: nothing for anyone.
    expect(await claimBatch(t().db, { relayId: 'relay-b', batchSize: 10, leaseMs: 30_000 })).toEqual([]);
    const leaseEnds = (await readRows(t().pool, ids)).get(ids[0]!)!.claimed_until!;
    const again = await waitFor(async () => {
      const events = await claimBatch(t().db, { relayId: 'relay-b', batchSize: 10, leaseMs: 30_000 });
      return events.length > 0 ? events : undefined;
    }, { intervalMs: 100, message: 'relay-b claiming after the lease ran out' });
    expect(again.map((e) => e.id)).toEqual(ids);
    // Not a moment before the lease ran out (Postgres's clock decides both).
    expect((await t().pool.query('SELECT clock_timestamp() >= $1 AS past', [leaseEnds])).rows[0].past).toBe(true);
    const rows = await readRows(t().pool, ids);
    expect([...rows.values()].map((r) => r.claimed_by)).toEqual(['relay-b', 'relay-b']);
  });

  it('a row whose backoff has passed becomes claimable', async () => {
    const { ids } = await insertRows(t().pool, 1, { availableInMs: 3_000, attempts: 1 });
    expect(await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000 })).toEqual([]);
    const events = await waitFor(async () => {
      const claimed = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000 });
      return claimed.length > 0 ? claimed : undefined;
    }, { intervalMs: 100, message: 'the row claimable once its backoff passed' });
    expect(events.map((e) => [e.id, e.attempts])).toEqual([[ids[0], 1]]);
  });

  it('the claim plan walks the partial index outbox_pending_idx (custom and generic plans)', async () => {
    // A realistic hot table: mostly pending, some in flight, some dead, some backing off.
    await insertRows(t().pool, 4_000);
    await insertRows(t().pool, 500, { claimedBy: 'relay-x', claimedForMs: 60_000 });
    await insertRows(t().pool, 300, { status: 'dead', attempts: 10 });
    await insertRows(t().pool, 200, { availableInMs: 60_000, attempts: 2 });
    const client = await t().pool.connect();
    try {
      await client.query('ANALYZE outbox');
      await client.query(`PREPARE claim_plan_test(text, int, float8, text[], bigint) AS ${CLAIM_BATCH_SQL}`);
      for (const mode of ['force_custom_plan', 'force_generic_plan']) {
        await client.query(`SET plan_cache_mode = ${mode}`);
        const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE claim_plan_test('relay-a', 100, 30000, '{}', 4194304)`);
        const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan, `${mode}:\n${plan}`).toMatch(/Index Scan using outbox_pending_idx on outbox/);
        // The UPDATE then fetches the picked rows by primary key, not by scanning the table.
        expect(plan, `${mode}:\n${plan}`).toMatch(/Index Scan using outbox_pkey on outbox/);
        expect(plan, `${mode}:\n${plan}`).not.toMatch(/Seq Scan/);
        // The one Sort orders the claimed candidates (at most a batch) for the byte bound's running sum, never the table.
        expect(plan.match(/Sort Key/g) ?? [], `${mode}:\n${plan}`).toHaveLength(1);
        expect(plan, `${mode}:\n${plan}`).toMatch(/Sort Key: candidates\.id/);
      }
    } finally {
      await client.query('DEALLOCATE ALL; RESET plan_cache_mode').catch(() => {});
      client.release();
    }
  });

  it('rejects a nonsensical batch size instead of claiming everything', async () => {
    await expect(claimBatch(t().db, { relayId: 'relay-a', batchSize: 0, leaseMs: 30_000 })).rejects.toThrow(RangeError);
  });
});
