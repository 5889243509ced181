import type { Collection } from 'mongodb';
import { metadataHash } from '../metadata/metadataHash.ts';
import type { Metadata } from '../types.ts';
import type { StoredMetadata } from './classifyDrift.ts';
import { collectionFor, Findings, METADATA_ENTITIES, type CheckContext, type CheckResult } from './reconcileTypes.ts';

/**
 * Entities with metadata whose content PostgreSQL does not hold: only those
 * whose content was pruned from the outbox before the upgrade that keeps it
 * (migration 0009 filled the rest, and counted these in metadata_backfill).
 * MongoDB is their only copy, and `rebuild` cannot restore them.
 *
 * With repair: fill PostgreSQL's content from the MongoDB document where it is
 * at the recorded version AND its content hashes to the recorded hash (so
 * nothing unverified enters the source of truth). The UPDATE is guarded by the
 * same version and hash, so a writer's newer metadata is never overwritten.
 */
export async function checkMetadataContent(ctx: CheckContext): Promise<CheckResult> {
  const findings = new Findings(ctx.sampleLimit);
  let checked = 0;
  let repaired = 0;
  const unrepairable: string[] = [];
  for (const entity of METADATA_ENTITIES) {
    const counted = await ctx.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${entity.table} WHERE metadata_version > 0`);
    checked += Number(counted.rows[0]!.n);
    const collection = ctx.mongoDb.collection<StoredMetadata>(collectionFor(entity.aggregateType));
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const { rows } = await ctx.db.query<{ id: string; version: number; hash: string | null }>(
        `SELECT id::text AS id, metadata_version AS version, metadata_hash AS hash FROM ${entity.table}
          WHERE metadata_version > 0 AND metadata IS NULL AND id > $1::uuid ORDER BY id LIMIT $2`,
        [after, ctx.pageSize],
      );
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.id;
      const filled = ctx.repair ? await fillFromMongo(ctx, entity.table, collection, rows) : new Set<string>();
      repaired += filled.size;
      for (const row of rows) {
        findings.add(`${entity.aggregateType}/${row.id}`, `PostgreSQL holds no content for v${row.version} (pruned before the upgrade)${filled.has(row.id) ? '; filled from MongoDB' : ''}`);
        if (ctx.repair && !filled.has(row.id) && unrepairable.length < ctx.sampleLimit) {
          unrepairable.push(`${entity.aggregateType}/${row.id}: no MongoDB document at v${row.version} with the recorded hash; its content is lost`);
        }
      }
      if (rows.length < ctx.pageSize) break;
    }
  }
  return { problems: findings.problems, samples: findings.samples, checked, ...(ctx.repair ? { repaired, unrepairable } : {}) };
}

async function fillFromMongo(
  ctx: CheckContext,
  table: string,
  collection: Collection<StoredMetadata>,
  rows: readonly { id: string; version: number; hash: string | null }[],
): Promise<Set<string>> {
  const docs = await collection.find({ _id: { $in: rows.map((r) => r.id) } }, { projection: { _id: 1, version: 1, metadata: 1 } }).toArray();
  const byId = new Map(docs.map((d) => [d._id, d]));
  const ids: string[] = [];
  const versions: number[] = [];
  const hashes: string[] = [];
  const contents: string[] = [];
  for (const row of rows) {
    const doc = byId.get(row.id);
    const metadata = doc?.metadata;
    if (!doc || doc.version !== row.version || metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) continue;
    if (metadataHash(metadata as Metadata) !== row.hash) continue;
    ids.push(row.id);
    versions.push(row.version);
    hashes.push(row.hash);
    contents.push(JSON.stringify(metadata));
  }
  if (ids.length === 0) return new Set();
  const { rows: updated } = await ctx.db.query<{ id: string }>(
    `UPDATE ${table} e SET metadata = f.metadata::jsonb
       FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[]) AS f(id, version, hash, metadata)
      WHERE e.id = f.id AND e.metadata_version = f.version AND e.metadata_hash = f.hash AND e.metadata IS NULL
      RETURNING e.id::text AS id`,
    [ids, versions, hashes, contents],
  );
  return new Set(updated.map((r) => r.id));
}
