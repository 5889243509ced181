import type { Collection, Filter } from 'mongodb';
import type { SqlDb } from '../db/sqlDb.ts';
import { metadataHash } from '../metadata/metadataHash.ts';
import { insertOutboxRows, thinOutboxRow, type OutboxRow } from '../outbox/enqueue.ts';
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
  /** `<aggregateType>/<id>: <reason>` for drift PostgreSQL holds no content to fix. */
  unrepairable: string[];
  /** `<aggregateType>/<id>: <what to do>` for documents ahead of PostgreSQL left as they are (no `repairAhead`). */
  needsRepairAhead: string[];
}

/** Event type of repair events, so they can be told apart in the outbox. */
export const REPAIR_EVENT_TYPE = 'metadata.repaired';

/**
 * Fix metadata drift the only way the design allows: through the outbox,
 * from the content PostgreSQL holds. For each entity, a thin event at the
 * version Postgres holds; the relay reads the entity's newest content when it
 * delivers it. Never touches ledger rows. Drift is repairable at any age:
 * pruning the outbox removes no content.
 *
 * A document that would fence the event out (MISMATCHED at the same version,
 * or AHEAD at a version PostgreSQL never had) is deleted first, guarded by the
 * version we saw: `deleteOne({ _id, version })`. Why that is safe:
 * - nothing is lost: the right content is committed in Postgres, and the event
 *   that restores it is enqueued right after; if we die in between, the
 *   document is simply missing and the next reconcile repairs it the same way;
 * - a newer version written meanwhile is never deleted (the guard does not
 *   match it), and our older event is then fenced out by it, as it should be.
 * Deleting before enqueueing, not after: enqueued first, the relay could
 * apply (and be fenced out by) the event before the delete, leaving the
 * document missing with nothing left in the outbox to restore it.
 *
 * AHEAD is reset only with `repairAhead`: a document ahead of PostgreSQL
 * usually means PostgreSQL was restored to an earlier point, and resetting
 * throws away the newer metadata MongoDB still holds, so a person decides.
 */
export async function repairMetadataDrift(
  db: SqlDb,
  collection: Collection<StoredMetadata>,
  entity: { aggregateType: string; table: string },
  drifts: readonly Drift[],
  options: { repairAhead?: boolean } = {},
): Promise<RepairOutcome> {
  const { aggregateType } = entity;
  const unrepairable: string[] = [];
  const needsRepairAhead: string[] = [];
  const fixable = drifts.filter((d) => {
    if (d.kind !== 'ahead' || options.repairAhead === true) return true;
    needsRepairAhead.push(
      `${aggregateType}/${d.id}: MongoDB holds v${String(d.storedVersion)}, PostgreSQL only v${d.version} (PostgreSQL restored to an earlier point?); ` +
        'keep it by re-applying the newer metadata through the API, or reset it to PostgreSQL with reconcile --repair --repair-ahead',
    );
    return false;
  });
  if (fixable.length === 0) return { enqueued: 0, unrepairable, needsRepairAhead };

  // The content at the version each drift expects, checked against the recorded hash.
  const { rows } = await db.query<{ id: string; metadata_version: number; metadata_hash: string | null; metadata: Metadata | null }>(
    `SELECT id::text AS id, metadata_version, metadata_hash, metadata FROM ${entity.table} WHERE id = ANY($1::uuid[])`,
    [fixable.map((d) => d.id)],
  );
  const stored = new Map(rows.map((r) => [r.id, r]));
  const events: OutboxRow[] = [];
  const toDelete: Drift[] = [];
  for (const d of fixable) {
    const row = stored.get(d.id);
    if (!row || row.metadata_version !== d.version) continue; // changed since it was judged: the writer's own event covers it
    if (row.metadata === null) {
      unrepairable.push(`${aggregateType}/${d.id}: ${d.kind}; PostgreSQL holds no content for v${d.version} (pruned before the upgrade that keeps it; see check metadata-content)`);
      continue;
    }
    if (metadataHash(row.metadata) !== row.metadata_hash) {
      unrepairable.push(`${aggregateType}/${d.id}: ${d.kind}; PostgreSQL's content at v${d.version} does not match its recorded hash`);
      continue;
    }
    events.push(thinOutboxRow(aggregateType, d.id, d.version, REPAIR_EVENT_TYPE));
    if (d.kind === 'mismatched' || d.kind === 'ahead') toDelete.push(d);
  }

  for (const d of toDelete) {
    await collection.deleteOne({ _id: d.id, version: d.storedVersion } as Filter<StoredMetadata>);
  }
  await insertOutboxRows(db, events);
  return { enqueued: events.length, unrepairable, needsRepairAhead };
}
