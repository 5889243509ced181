import type { SqlDb } from '../db/sqlDb.ts';

/**
 * Run a query that yields `(id, reason, ord)` per offending item (`ord` orders the samples) and return how
 * many there are plus the first `limit`, in one round trip and bounded
 * memory: `count(*) OVER ()` is computed before the LIMIT applies.
 */
export async function queryFindings(db: SqlDb, findingsSql: string, params: readonly unknown[], limit: number): Promise<{ problems: number; samples: string[] }> {
  const limitParam = params.length + 1;
  const { rows } = await db.query<{ id: string; reason: string; total: string }>(
    `SELECT f.id, f.reason, count(*) OVER () AS total FROM (${findingsSql}) f ORDER BY f.ord LIMIT $${limitParam}`,
    [...params, Math.max(limit, 1)],
  );
  return { problems: rows.length === 0 ? 0 : Number(rows[0]!.total), samples: rows.slice(0, limit).map((r) => `${r.id}: ${r.reason}`) };
}
