import type { SqlDb } from '../db/sqlDb.ts';
import { toEvent, type ClaimedRow } from '../outbox/claimBatch.ts';
import type { OutboxEvent } from '../types.ts';
import { REBUILD_EVENT_TYPE } from './rebuildTypes.ts';

/**
 * Take a page of entities the way a relay's claim takes events, so a rebuild
 * and the relays never write one document at the same time (FerretDB's fenced
 * update is not atomic: two writers of different versions at once can lose
 * the newer; see outbox/claimBatch.ts, whose three parts this mirrors):
 * - NOT EXISTS: skip entities a relay holds under a live lease (it writes
 *   their newest version itself: its events are thin or older, and the
 *   fence keeps the newest);
 * - pg_try_advisory_xact_lock on the entity, the same key the claim uses: a
 *   claim running at this moment and we cannot both take it;
 * - siblings: the entity's other claimable pending rows get our lease too, so
 *   a claim that started before we committed re-checks them, finds our lease,
 *   and leaves them; we deliver them with ours (they are fenced no-ops or
 *   collapse into our newer write). Rows we hold already (left by a killed
 *   run we are resuming) count as claimable: they are delivered with these.
 * For each entity taken we insert one thin event, already claimed by us: the
 * relays see a live lease on the entity until we are done, and if we crash,
 * the lease runs out and a relay delivers it. Nothing stays unprojected.
 */
const CLAIM_FOR_REBUILD_SQL = `
WITH free AS MATERIALIZED (
  SELECT p.aggregate_id, p.version
    FROM unnest($2::text[], $3::int[]) AS p(aggregate_id, version)
   WHERE NOT EXISTS (
           SELECT 1 FROM outbox held
            WHERE held.aggregate_type = $1
              AND held.aggregate_id = p.aggregate_id
              AND held.status = 'pending'
              AND held.claimed_until >= now()
              AND held.claimed_by <> $4
           OFFSET 0)
), taken AS MATERIALIZED (
  SELECT aggregate_id, version FROM free
   WHERE pg_try_advisory_xact_lock(hashtextextended($1 || '/' || aggregate_id, 7406))
), inserted AS (
  INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload, claimed_by, claimed_until)
  SELECT gen_random_uuid(), $1, aggregate_id, version, '${REBUILD_EVENT_TYPE}', NULL, $4, now() + $5::float8 * interval '1 millisecond'
    FROM taken
  RETURNING id, event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, attempts, trace_context
), siblings AS (
  UPDATE outbox
     SET claimed_by = $4, claimed_until = now() + $5::float8 * interval '1 millisecond'
   WHERE id = ANY(ARRAY(
           SELECT s.id FROM taken t
            CROSS JOIN LATERAL (
                  SELECT id FROM outbox s
                   WHERE s.aggregate_type = $1 AND s.aggregate_id = t.aggregate_id AND s.status = 'pending'
                     AND s.available_at <= now() AND (s.claimed_until IS NULL OR s.claimed_until < now() OR s.claimed_by = $4)
                     FOR UPDATE SKIP LOCKED) s))
  RETURNING id, event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, attempts, trace_context
)
SELECT * FROM inserted UNION ALL SELECT * FROM siblings`;

/** Claim `entities` of one type for `claimerId`; returns the events to deliver (ours and the siblings) in id order. */
export async function claimForRebuild(
  db: SqlDb,
  options: { claimerId: string; aggregateType: string; entities: readonly { id: string; version: number }[]; leaseMs: number },
): Promise<OutboxEvent[]> {
  if (options.entities.length === 0) return [];
  const { rows } = await db.query<ClaimedRow>(CLAIM_FOR_REBUILD_SQL, [
    options.aggregateType,
    options.entities.map((e) => e.id),
    options.entities.map((e) => e.version),
    options.claimerId,
    options.leaseMs,
  ]);
  return rows.map(toEvent).sort((a, b) => a.id - b.id);
}
