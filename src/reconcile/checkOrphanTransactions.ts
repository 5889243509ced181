import { queryFindings } from './queryFindings.ts';
import type { CheckContext, CheckResult } from './reconcileTypes.ts';

/** A posting always writes its operations with it; a transaction without any lost them. Anti-join via operation_transaction_id_idx. */
const FINDINGS_SQL = `
SELECT t.id::text AS id, t.id AS ord, 'transaction without operations' AS reason
  FROM "transaction" t
 WHERE NOT EXISTS (SELECT 1 FROM operation o WHERE o.transaction_id = t.id)`;

/** Transactions that have no operations. */
export async function checkOrphanTransactions(ctx: CheckContext): Promise<CheckResult> {
  const found = await queryFindings(ctx.db, FINDINGS_SQL, [], ctx.sampleLimit);
  const { rows } = await ctx.db.query<{ n: string }>(`SELECT count(*) AS n FROM "transaction"`);
  return { ...found, checked: Number(rows[0]!.n) };
}
