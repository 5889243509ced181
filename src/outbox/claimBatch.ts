import type { SqlDb } from '../db/sqlDb.ts';
import type { TraceContext } from '../tracing/traceContext.ts';
import type { OutboxEvent } from '../types.ts';

/**
 * The claim: one statement, so one short transaction that holds row locks
 * only while it stamps the lease; no transaction stays open while the relay
 * talks to MongoDB (the lease, not a lock, protects the rows from then on).
 *
 * - FOR UPDATE SKIP LOCKED: concurrent relays skip rows another claim is
 *   stamping right now instead of queueing behind it, so they take disjoint
 *   batches. Under READ COMMITTED a row that another relay stamped and
 *   committed after our snapshot is re-checked against the WHERE clause on
 *   its newest version, so its fresh lease excludes it.
 * - `claimed_until < now()`: a crashed relay's rows come back when its lease
 *   runs out; nothing else is needed for crash recovery.
 * - We never read "ids above the last one seen": ids commit out of order, so
 *   we claim whatever is still pending.
 * - `status = 'pending'` matches the predicate of the partial index
 *   `outbox_pending_idx (id) WHERE status = 'pending'`, and ORDER BY id LIMIT
 *   lets the planner walk that index in order and stop after n rows, with
 *   available_at/claimed_until as a cheap filter on the heap row. Verified with
 *   EXPLAIN on 5,000 rows for both the custom plan (what an unnamed statement,
 *   the default, gets every time) and the generic plan (what a named one may
 *   settle on in session mode) (test/int/outbox/claimBatch.int.test.ts): Index Scan
 *   using outbox_pending_idx, no Sort, no Seq Scan.
 *   claimed_* and available_at are not indexed, so the stamp is a HOT update.
 * - `id = ANY(ARRAY(subquery))` rather than a join with a CTE: the subquery
 *   becomes an InitPlan and the UPDATE fetches its rows by primary key. As a
 *   join (UPDATE … FROM picked), the planner chose a hash join over a Seq
 *   Scan of the whole hot table at a few thousand rows (seen in EXPLAIN).
 *
 * One aggregate, one batch at a time. Batches may not hold events of the same
 * entity at once: the sink's version fence makes that correct on MongoDB, but
 * FerretDB's fenced update is not atomic (query, then overwrite by _id), so two
 * relays writing v19 and v20 of one document together can lose v20 (seen in
 * the three-relay test). Three parts close it:
 * - NOT EXISTS: skip entities any batch holds under a live lease: another
 *   relay's, and this relay's own other batches too (its other workers', or,
 *   for a claim ahead, the batch at the sink), whose sink writes run as
 *   concurrently as two relays' (this once excluded only other relays, and a
 *   property test of the drain caught two workers of one relay writing one
 *   entity at once: test/int/properties/drainCompleteness.int.test.ts);
 * - pg_try_advisory_xact_lock on the entity: two claims running at the same
 *   moment cannot both take it (held only for this one-statement transaction);
 * - siblings: the claim also takes the entity's other claimable rows, so a
 *   claim that started before ours committed re-checks those rows (they were
 *   updated) and finds our lease, instead of taking one of them.
 * Siblings are not capped: a capped set would leave some of the entity's rows
 * un-updated, and a claim racing ours could take one of those. A batch is
 * `batchSize` entities' worth of rows; the sink collapses each entity's
 * versions into one write, so many pending versions cost one document write.
 *
 * Known gap: siblings are taken SKIP LOCKED, so a sibling that a concurrent
 * claim's candidate scan holds locked at that moment (a claim that then
 * failed the entity lock) is skipped and left un-updated, and a third claim
 * whose snapshot predates our commit can take it: the entity is then in two
 * batches. Found by test/int/properties/drainCompleteness.int.test.ts (the
 * fleet property: 1 run in 40 to 500 on two cores, more under load).
 * Harmless on MongoDB (the fence is atomic); on FerretDB the older version
 * can win. Not closed yet: waiting for the lock instead can deadlock two
 * claims, and a re-check with a fresh snapshot (a volatile function) or
 * dropping an entity whose siblings were not all taken costs another probe
 * per event on the hot path, to be measured first.
 *
 * Bounded by bytes as well as by count: `picked` stops before the row whose
 * payload would take the batch past $5 bytes of JSON (the text the relay
 * receives and parses; the first row is always taken, however large), so a
 * batch of large documents cannot hold more memory than that, and the relay
 * can run under a hard heap cap (README, "Memory"). Thin rows (payload NULL)
 * count 0 here: their content is read, under the same bound, by
 * resolveThinEvents. Rows past the bound were row-locked as candidates for
 * this one statement only; they are left for the next claim, and the result
 * says so (`cutByBytes`: a short batch is not a sign that the outbox is drained).
 *
 * now() is the transaction's start; in this one-statement transaction that
 * is "now".
 */
export const CLAIM_BATCH_SQL = `
WITH candidates AS MATERIALIZED (
  SELECT id, aggregate_type, aggregate_id, octet_length(payload::text) AS bytes
    FROM outbox o
   WHERE status = 'pending'
     AND available_at <= now()
     AND (claimed_until IS NULL OR claimed_until < now())
     -- Aggregate types an operator paused (relay_pause) stay pending.
     AND aggregate_type <> ALL($4::text[])
     AND NOT EXISTS (
           SELECT 1 FROM outbox held
            WHERE held.aggregate_type = o.aggregate_type
              AND held.aggregate_id = o.aggregate_id
              AND held.status = 'pending'
              AND held.claimed_until >= now()
           -- OFFSET 0 keeps this a per-row probe of outbox_aggregate_idx; as an
           -- anti-join the planner may hash a Seq Scan of the whole table.
           OFFSET 0)
   ORDER BY id
   LIMIT $2
     FOR UPDATE SKIP LOCKED
), within_bytes AS MATERIALIZED (
  -- Its own step, so no entity lock below is taken for a row past the bound.
  SELECT id, aggregate_type, aggregate_id
    FROM (SELECT id, aggregate_type, aggregate_id,
                 coalesce(sum(bytes) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS bytes_before
            FROM candidates) c
   WHERE bytes_before < $5
), picked AS MATERIALIZED (
  -- The entity lock is taken only for rows we already hold row locks on, so a
  -- claim never locks entities it is not taking (which would starve a
  -- concurrent claim if the planner evaluated the filter for many rows).
  SELECT id, aggregate_type, aggregate_id
    FROM within_bytes
   WHERE pg_try_advisory_xact_lock(hashtextextended(aggregate_type || '/' || aggregate_id, 7406))
), siblings AS (
  -- LATERAL from the (small) picked set: each entity is one index probe on
  -- outbox_aggregate_idx. A plain join or IN (subquery) planned as a hash
  -- join over a Seq Scan of the whole hot table.
  SELECT s.id
    FROM picked p
   CROSS JOIN LATERAL (
         SELECT id
           FROM outbox s
          WHERE s.aggregate_type = p.aggregate_type
            AND s.aggregate_id = p.aggregate_id
            AND s.id <> p.id
            AND s.status = 'pending'
            AND s.available_at <= now()
            AND (s.claimed_until IS NULL OR s.claimed_until < now())
            FOR UPDATE SKIP LOCKED) s
)
UPDATE outbox
   SET claimed_by = $1,
       claimed_until = now() + $3::float8 * interval '1 millisecond'
 WHERE id = ANY(ARRAY(SELECT id FROM picked UNION ALL SELECT id FROM siblings))
RETURNING id, event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, attempts, trace_context,
          (SELECT count(*) FROM within_bytes) < (SELECT count(*) FROM candidates) AS cut_by_bytes`;

/** A claimed outbox row as the claim statements return it (claimBatch, and rebuild's claim). */
export interface ClaimedRow {
  id: string;
  event_id: string;
  aggregate_type: string;
  aggregate_id: string;
  version: number;
  event_type: string;
  payload: OutboxEvent['payload'];
  created_at: Date;
  attempts: number;
  trace_context: TraceContext | null;
}

/** Claimed events, in id order; `cutByBytes`: the byte bound left claimable rows for the next claim. */
export type ClaimedBatch = OutboxEvent[] & { readonly cutByBytes: boolean };

/**
 * Claim up to `batchSize` pending, available, unleased rows for `relayId`
 * for `leaseMs` (plus up to `batchSize` more rows of the same entities), and
 * no more payload than `maxBytes` of JSON (default: no byte bound), the first
 * row excepted. Returns them in id order; an empty array means no work.
 */
export async function claimBatch(db: SqlDb, options: { relayId: string; batchSize: number; leaseMs: number; maxBytes?: number; skipTypes?: readonly string[] }): Promise<ClaimedBatch> {
  const { relayId, batchSize, leaseMs } = options;
  const maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
  if (!(maxBytes > 0)) throw new RangeError(`claimBatch: maxBytes must be > 0 (got ${maxBytes})`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`claimBatch: batchSize must be a positive integer (got ${batchSize})`);
  if (!(leaseMs > 0)) throw new RangeError(`claimBatch: leaseMs must be > 0 (got ${leaseMs})`);
  // Named only in session mode (db/sqlDb.ts, PoolMode): through a transaction pooler a name breaks.
  const { rows } = await db.query<ClaimedRow & { cut_by_bytes: boolean }>({
    name: 'outbox_claim_batch',
    text: CLAIM_BATCH_SQL,
    values: [relayId, batchSize, leaseMs, options.skipTypes ?? [], maxBytes],
  });
  // UPDATE … RETURNING does not keep the CTE's order.
  const events = rows.map(toEvent).sort((a, b) => a.id - b.id);
  // Not enumerable: the batch still compares, spreads and serialises as the plain array of events it is.
  return Object.defineProperty(events, 'cutByBytes', { value: rows[0]?.cut_by_bytes === true, enumerable: false }) as ClaimedBatch;
}

export function toEvent(row: ClaimedRow): OutboxEvent {
  return {
    id: Number(row.id),
    eventId: row.event_id,
    aggregateType: row.aggregate_type,
    aggregateId: row.aggregate_id,
    version: row.version,
    eventType: row.event_type,
    payload: row.payload,
    createdAt: row.created_at,
    attempts: row.attempts,
    traceContext: row.trace_context,
  };
}
