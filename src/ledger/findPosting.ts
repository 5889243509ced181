import sql from 'sql-template-tag';
import { toSqlDb, type DbLike } from '../db/toSqlDb.ts';
import type { PostingResult } from '../types.ts';

export type FindPostingOutcome =
  | { kind: 'none' }
  | { kind: 'same'; result: PostingResult }
  /** The key was used for another request. */
  | { kind: 'conflict'; transactionId: string };

/** What an idempotency key already stands for, compared with this request's hash. */
export async function findPosting(db: DbLike, idempotencyKey: string, requestHash: string): Promise<FindPostingOutcome> {
  const result = await toSqlDb(db).query<{ id: string; request_hash: string; operation_ids: string[] }>(sql`
    SELECT t.id::text, t.request_hash,
           coalesce(array_agg(o.id::text ORDER BY o.entry_index) FILTER (WHERE o.id IS NOT NULL), '{}') AS operation_ids
    FROM "transaction" t
    LEFT JOIN operation o ON o.transaction_id = t.id
    WHERE t.idempotency_key = ${idempotencyKey}
    GROUP BY t.id`);
  const row = result.rows[0];
  if (!row) return { kind: 'none' };
  if (row.request_hash !== requestHash) return { kind: 'conflict', transactionId: row.id };
  return { kind: 'same', result: { transactionId: row.id, operationIds: row.operation_ids, created: false } };
}
