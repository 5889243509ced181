import type { Collection } from 'mongodb';
import type { SqlDb } from '../db/sqlDb.ts';
import { metadataHash } from '../metadata/metadataHash.ts';
import type { Metadata } from '../types.ts';
import type { StoredMetadata } from './classifyDrift.ts';
import { CANONICAL_UUID_PATTERN } from '../uuid.ts';


/**
 * Stream one collection (one unsorted cursor, `batchSize` documents in memory)
 * into a temp table `(id uuid, version, hash)` on `db` (one connection), so the
 * comparison with Postgres becomes one join there. With `onCommitDrop` the
 * caller has opened a transaction and the table ends with it (pooler-safe);
 * otherwise it is a session table the caller drops.
 *
 * Why: on FerretDB 1.24 every find is a full scan of the collection's backing
 * table (measured: `_id: { $in: 1000 ids }` and a sorted `_id > last` page
 * each take ~8 s at 100,000 documents; even `_id: <string>` reads ~47 ms), so
 * a per-page `$in` costs O(n²). One sequential read is O(n) on every server.
 * Without `onCommitDrop` each statement autocommits: no transaction stays open
 * (it would hold back vacuum of the outbox). Only entity-shaped ids are kept: anything else is
 * orphan-documents' business.
 */
export async function loadStoredMetadata(
  db: SqlDb,
  collection: Collection<StoredMetadata>,
  table: string,
  batchSize: number,
  options: { onCommitDrop?: boolean } = {},
): Promise<number> {
  await db.query(`CREATE TEMP TABLE ${table} (id uuid PRIMARY KEY, version double precision, hash text)${options.onCommitDrop ? ' ON COMMIT DROP' : ''}`);
  let loaded = 0;
  let batch: { id: string; version: number | null; hash: string | null }[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await db.query(`INSERT INTO ${table} (id, version, hash) SELECT * FROM unnest($1::uuid[], $2::float8[], $3::text[]) ON CONFLICT (id) DO NOTHING`, [
      batch.map((d) => d.id),
      batch.map((d) => d.version),
      batch.map((d) => d.hash),
    ]);
    loaded += batch.length;
    batch = [];
  };
  const cursor = collection.find({}, { projection: { _id: 1, version: 1, metadata: 1 }, batchSize });
  try {
    for await (const doc of cursor) {
      if (typeof doc._id !== 'string' || !CANONICAL_UUID_PATTERN.test(doc._id)) continue;
      const metadata = doc.metadata;
      const hash = metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata) ? metadataHash(metadata as Metadata) : null;
      batch.push({ id: doc._id, version: typeof doc.version === 'number' && Number.isFinite(doc.version) ? doc.version : null, hash });
      if (batch.length >= batchSize) await flush();
    }
    await flush();
  } finally {
    await cursor.close();
  }
  await db.query(`ANALYZE ${table}`);
  return loaded;
}
