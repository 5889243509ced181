import { queryFindings } from './queryFindings.ts';
import type { CheckContext, CheckResult } from './reconcileTypes.ts';

/**
 * Per transaction and asset, debits equal credits. One aggregation over
 * operation (sums are numeric: no bigint overflow), one finding per
 * transaction naming each unbalanced asset.
 */
const FINDINGS_SQL = `
SELECT g.transaction_id::text AS id, g.transaction_id AS ord,
       string_agg(format('%s debits %s ≠ credits %s', g.asset, g.debits, g.credits), '; ' ORDER BY g.asset) AS reason
  FROM (SELECT transaction_id, asset,
               coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0) AS debits,
               coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0) AS credits
          FROM operation
         GROUP BY transaction_id, asset) g
 WHERE g.debits <> g.credits
 GROUP BY g.transaction_id`;

/** Transactions whose debits and credits differ in some asset. */
export async function checkDoubleEntry(ctx: CheckContext): Promise<CheckResult> {
  const found = await queryFindings(ctx.db, FINDINGS_SQL, [], ctx.sampleLimit);
  const { rows } = await ctx.db.query<{ n: string }>(`SELECT count(*) AS n FROM "transaction"`);
  return { ...found, checked: Number(rows[0]!.n) };
}
