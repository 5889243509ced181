import type { Collection, Filter } from 'mongodb';
import type { Db } from '../db/client.ts';
import { metadataHash } from '../metadata/metadataHash.ts';
import { sqlRunner } from '../db/sqlRunner.ts';
import { buildOutboxRow, insertOutboxRows, type OutboxRow } from '../outbox/enqueue.ts';
import type { Metadata } from '../types.ts';
import type { DriftKind, StoredMetadata } from './classifyDrift.ts';

export interface Drift {
  id: string;
  /** The version Postgres says MongoDB should hold. */
  version: number;
  hash: string | null;
  kind: DriftKind;
  storedVersion?: unknown;
}

export interface RepairOutcome {
  enqueued: number;
  /** `<aggregateType>/<id>: <reason>` for drift the outbox cannot fix. */
  unrepairable: string[];
}

/**
 * Every retained payload of these entities at the wanted versions, newest
 * first (outbox and outbox_delivered share one id sequence, so id orders them
 * across both tables; dead rows count: their payload is as good as any).
 */
const CANDIDATES_SQL = `
SELECT x.aggregate_id, x.event_type, x.payload
  FROM (SELECT id, aggregate_id, version, event_type, payload FROM outbox
         WHERE aggregate_type = $1 AND aggregate_id = ANY($2::text[])
        UNION ALL
        SELECT id, aggregate_id, version, event_type, payload FROM outbox_delivered
         WHERE aggregate_type = $1 AND aggregate_id = ANY($2::text[])) x
  JOIN unnest($2::text[], $3::int[]) AS want(aggregate_id, version)
    ON want.aggregate_id = x.aggregate_id AND want.version = x.version
 ORDER BY x.id DESC`;

/**
 * Fix metadata drift the only way the design allows: through the outbox.
 * For each entity, a fresh event (new event id) at the version Postgres holds,
 * carrying the newest retained payload of that version whose hash matches
 * what Postgres recorded. Never touches ledger rows.
 *
 * A document MISMATCHED at the same version would fence the new event out
 * (the sink writes only where the stored version is lower), so it is deleted
 * first, guarded by the version we saw: `deleteOne({ _id, version })`.
 * Why that is safe:
 * - nothing is lost: the right content is committed in Postgres (the payload
 *   we just read), and the event that restores it is enqueued right after;
 *   if we die in between, the document is simply missing and the next
 *   reconcile finds and repairs it the same way;
 * - a newer version written meanwhile is never deleted (the guard does not
 *   match it), and our older event is then fenced out by it, as it should be.
 * Deleting before enqueueing, not after: enqueued first, the relay could
 * apply (and be fenced out by) the event before the delete, leaving the
 * document missing with nothing left in the outbox to restore it.
 */
export async function repairMetadataDrift(
  db: Db,
  collection: Collection<StoredMetadata>,
  aggregateType: string,
  drifts: readonly Drift[],
): Promise<RepairOutcome> {
  const unrepairable: string[] = [];
  const fixable = drifts.filter((d) => {
    if (d.kind !== 'ahead') return true;
    // An event at a lower version can never replace it: a person has to look.
    unrepairable.push(`${aggregateType}/${d.id}: MongoDB ahead of Postgres (v${String(d.storedVersion)} > v${d.version}); not repairable through the outbox`);
    return false;
  });
  if (fixable.length === 0) return { enqueued: 0, unrepairable };

  const { rows } = await db.$client.query<{ aggregate_id: string; event_type: string; payload: { metadata?: unknown } }>(CANDIDATES_SQL, [
    aggregateType,
    fixable.map((d) => d.id),
    fixable.map((d) => d.version),
  ]);
  const candidates = new Map<string, { eventType: string; metadata: unknown }[]>();
  for (const r of rows) {
    const list = candidates.get(r.aggregate_id) ?? [];
    list.push({ eventType: r.event_type, metadata: r.payload?.metadata });
    candidates.set(r.aggregate_id, list);
  }

  const events: OutboxRow[] = [];
  const toDelete: Drift[] = [];
  for (const d of fixable) {
    const payload = (candidates.get(d.id) ?? []).find((c) => isMetadata(c.metadata) && metadataHash(c.metadata) === d.hash);
    if (!payload) {
      unrepairable.push(`${aggregateType}/${d.id}: ${d.kind}; no retained payload at v${d.version} with the recorded hash (pruned?)`);
      continue;
    }
    let row: OutboxRow;
    try {
      row = buildOutboxRow({ aggregateType, aggregateId: d.id, version: d.version, eventType: payload.eventType, payload: { metadata: payload.metadata as Metadata } });
    } catch (error) {
      unrepairable.push(`${aggregateType}/${d.id}: retained payload no longer valid (${error instanceof Error ? error.message : String(error)})`);
      continue;
    }
    events.push(row);
    if (d.kind === 'mismatched') toDelete.push(d);
  }

  for (const d of toDelete) {
    await collection.deleteOne({ _id: d.id, version: d.storedVersion } as Filter<StoredMetadata>);
  }
  await insertOutboxRows(sqlRunner(db), events);
  return { enqueued: events.length, unrepairable };
}

function isMetadata(value: unknown): value is Metadata {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
