import type { SqlDb } from '../db/sqlDb.ts';
import type { Metadata } from '../types.ts';
import { UUID_PATTERN } from '../uuid.ts';

export interface EntityRef {
  aggregateType: string;
  aggregateId: string;
}

/** An entity's newest metadata as PostgreSQL holds it. */
export interface StoredContent {
  version: number;
  metadata: Metadata;
}

/** Past the byte budget: the entity has content, not read this time (readMetadataContent's `maxBytes`). */
export interface DeferredContent {
  version: number;
  metadata: null;
}

/** `transaction/<id>`: the key of `readMetadataContent`'s answer. */
export function entityKey(ref: EntityRef): string {
  return `${ref.aggregateType}/${ref.aggregateId}`;
}

/**
 * The content store, read side, in one round trip: the ledger's entities from
 * their own rows, every other type from entity_metadata. Entities without
 * content (none kept, or pruned before the upgrade that added it) are absent
 * from the answer. Plain SQL over the pool: the relay calls this on every
 * batch of thin events and never loads drizzle (see db/sqlDb.ts).
 *
 * `maxBytes` bounds what one call holds in memory: contents are read in
 * entity order until the next would take the total past it (in bytes of JSON
 * text; the first is always read); the rest come back with `metadata: null`
 * (deferred), so the caller can leave them for later. Without it, everything.
 */
export async function readMetadataContent(db: SqlDb, refs: readonly EntityRef[]): Promise<Map<string, StoredContent>>;
export async function readMetadataContent(db: SqlDb, refs: readonly EntityRef[], options: { maxBytes: number }): Promise<Map<string, StoredContent | DeferredContent>>;
export async function readMetadataContent(db: SqlDb, refs: readonly EntityRef[], options?: { maxBytes: number }): Promise<Map<string, StoredContent | DeferredContent>> {
  const transactions: string[] = [];
  const operations: string[] = [];
  const otherTypes: string[] = [];
  const otherIds: string[] = [];
  // One ref per entity: a batch holds an entity's pending versions together,
  // and a repeated ref would read (and, under maxBytes, count) its content
  // once per version, the later copies past the bound.
  const seen = new Set<string>();
  for (const ref of refs) {
    const key = entityKey(ref);
    if (seen.has(key)) continue;
    seen.add(key);
    // A ledger entity id is a uuid; anything else cannot be one (and would fail the cast).
    if (ref.aggregateType === 'transaction') {
      if (UUID_PATTERN.test(ref.aggregateId)) transactions.push(ref.aggregateId);
    } else if (ref.aggregateType === 'operation') {
      if (UUID_PATTERN.test(ref.aggregateId)) operations.push(ref.aggregateId);
    } else {
      otherTypes.push(ref.aggregateType);
      otherIds.push(ref.aggregateId);
    }
  }
  const content = new Map<string, StoredContent | DeferredContent>();
  if (refs.length === 0) return content;
  const all = `SELECT 'transaction' AS aggregate_type, id::text AS aggregate_id, metadata_version AS version, metadata
       FROM "transaction" WHERE id = ANY($1::uuid[]) AND metadata IS NOT NULL
     UNION ALL
     SELECT 'operation', id::text, metadata_version, metadata
       FROM operation WHERE id = ANY($2::uuid[]) AND metadata IS NOT NULL
     UNION ALL
     SELECT e.aggregate_type, e.aggregate_id, e.version, e.metadata
       FROM entity_metadata e JOIN unnest($3::text[], $4::text[]) AS k(aggregate_type, aggregate_id)
         ON e.aggregate_type = k.aggregate_type AND e.aggregate_id = k.aggregate_id`;
  const bounded = `SELECT aggregate_type, aggregate_id, version, CASE WHEN bytes_before < $5 THEN metadata END AS metadata
       FROM (SELECT a.*, coalesce(sum(octet_length(a.metadata::text)) OVER (ORDER BY a.aggregate_type, a.aggregate_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS bytes_before
               FROM (${all}) a) s`;
  const { rows } = await db.query<{ aggregate_type: string; aggregate_id: string; version: number; metadata: Metadata | null }>(
    options ? bounded : all,
    options ? [transactions, operations, otherTypes, otherIds, options.maxBytes] : [transactions, operations, otherTypes, otherIds],
  );
  for (const r of rows) content.set(entityKey({ aggregateType: r.aggregate_type, aggregateId: r.aggregate_id }), r.metadata === null ? { version: r.version, metadata: null } : { version: r.version, metadata: r.metadata });
  return content;
}
