import type { Document } from 'mongodb';
import type { SqlDb } from '../db/sqlDb.ts';
import { collectionFor, Findings, METADATA_ENTITIES, type CheckContext, type CheckResult } from './reconcileTypes.ts';
import { CANONICAL_UUID_PATTERN } from '../uuid.ts';


/**
 * MongoDB → Postgres: documents whose entity does not exist. One streamed
 * cursor per collection (`_id` only, `pageSize` documents in memory), each
 * page checked with one `= ANY($1::uuid[])`.
 *
 * Unsorted on purpose: an `_id`-ordered keyset would be the textbook way, but
 * on FerretDB 1.24 every sorted `_id > last` page is a full scan plus an
 * in-memory sort (measured ~8 s per page at 100,000 documents), so it is
 * O(n²); one cursor is O(n) on MongoDB and FerretDB alike. It also sees every
 * `_id` type in one pass. Entity ids are lower-case uuids as Postgres renders
 * them, so any other `_id` (other strings, upper case, non-strings) cannot
 * belong to an entity: an orphan, decided without a cast that would fail.
 * Documents cannot precede their entity (the relay writes them after the
 * commit), so a document written during the scan is never a false orphan.
 */
export async function checkOrphanDocuments(ctx: CheckContext): Promise<CheckResult> {
  const findings = new Findings(ctx.sampleLimit);
  let checked = 0;
  for (const entity of METADATA_ENTITIES) {
    const collection = ctx.mongoDb.collection<Document>(collectionFor(entity.aggregateType));
    let page: unknown[] = [];
    const checkPage = async () => {
      checked += page.length;
      const uuids = page.filter((id): id is string => typeof id === 'string' && CANONICAL_UUID_PATTERN.test(id));
      const existing = await existingIds(ctx.db, entity.table, uuids);
      for (const id of page) {
        if (typeof id !== 'string') findings.add(`${entity.aggregateType}/${String(id)}`, 'orphan document (_id is not a string)');
        else if (!CANONICAL_UUID_PATTERN.test(id)) findings.add(`${entity.aggregateType}/${id}`, 'orphan document (_id is not an entity id)');
        else if (!existing.has(id)) findings.add(`${entity.aggregateType}/${id}`, `orphan document (no such ${entity.aggregateType})`);
      }
      page = [];
    };
    const cursor = collection.find({}, { projection: { _id: 1 }, batchSize: ctx.pageSize });
    try {
      for await (const doc of cursor) {
        page.push(doc._id);
        if (page.length >= ctx.pageSize) await checkPage();
      }
      await checkPage();
    } finally {
      await cursor.close();
    }
  }
  return { problems: findings.problems, samples: findings.samples, checked };
}

async function existingIds(db: SqlDb, table: string, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ id: string }>(`SELECT id::text AS id FROM ${table} WHERE id = ANY($1::uuid[])`, [ids]);
  return new Set(rows.map((r) => r.id));
}
