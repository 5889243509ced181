import type { SqlDb } from '../db/sqlDb.ts';
import type { ExpectedMetadata } from './classifyDrift.ts';
import { UUID_PATTERN } from '../uuid.ts';

export interface ExpectedMetadataRow extends ExpectedMetadata {
  /** An event for this entity is still pending in the outbox: MongoDB may legitimately lag. */
  inFlight: boolean;
}


/**
 * One keyset page of entities carrying metadata (`id > after`, in id order),
 * each with whether an event of it is still pending. The pending test goes
 * through outbox_aggregate_idx (aggregate_type, aggregate_id, …); aggregate_id
 * is text, so the entity id is compared as text.
 *
 * Or, with `ids`, exactly those entities (to confirm a finding).
 */
export async function readMetadataPage(
  db: SqlDb,
  entity: { aggregateType: string; table: string },
  page: { after: string | null; limit: number } | { ids: readonly string[] },
): Promise<ExpectedMetadataRow[]> {
  const select = `SELECT e.id::text AS id, e.metadata_version AS version, e.metadata_hash AS hash,
         EXISTS (SELECT 1 FROM outbox o
                  WHERE o.aggregate_type = $1 AND o.aggregate_id = e.id::text AND o.status = 'pending') AS in_flight
    FROM ${entity.table} e`;
  let text: string;
  let params: unknown[];
  if ('ids' in page) {
    text = `${select} WHERE e.id = ANY($2::uuid[]) ORDER BY e.id`;
    params = [entity.aggregateType, page.ids.filter((id) => UUID_PATTERN.test(id))];
  } else if (page.after === null) {
    // Two statements rather than `$2 IS NULL OR id > $2`, which hides the range from the planner.
    text = `${select} WHERE e.metadata_version > 0 ORDER BY e.id LIMIT $2`;
    params = [entity.aggregateType, page.limit];
  } else {
    text = `${select} WHERE e.metadata_version > 0 AND e.id > $2::uuid ORDER BY e.id LIMIT $3`;
    params = [entity.aggregateType, page.after, page.limit];
  }
  const { rows } = await db.query<{ id: string; version: number; hash: string | null; in_flight: boolean }>(text, params);
  return rows.map((r) => ({ id: r.id, version: r.version, hash: r.hash, inFlight: r.in_flight }));
}
