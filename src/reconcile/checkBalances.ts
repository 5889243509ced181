import { queryFindings } from './queryFindings.ts';
import type { CheckContext, CheckResult } from './reconcileTypes.ts';

/**
 * Two invariants, both as aggregations in Postgres (bounded memory):
 * - each balance: available = opening + credits − debits over its operations
 *   (there is no opening column: balances open at 0), and version = its
 *   operation count (a posting bumps it once per operation);
 * - each asset: the sum over all balances is zero (money only moves).
 * The second follows from the first plus double-entry; it is kept as an
 * independent check, so an unbalanced posting that also moved the balances
 * shows here as its asset, next to the double-entry finding.
 */
const FINDINGS_SQL = `
SELECT 'balance/' || b.id::text AS id, '0:' || b.id::text AS ord,
       concat_ws('; ',
         CASE WHEN b.available <> coalesce(o.net, 0)
              THEN format('%s/%s available %s ≠ credits − debits %s', b.account, b.asset, b.available, coalesce(o.net, 0)) END,
         CASE WHEN b.version <> coalesce(o.n, 0)
              THEN format('%s/%s version %s ≠ %s operations', b.account, b.asset, b.version, coalesce(o.n, 0)) END) AS reason
  FROM balance b
  LEFT JOIN (SELECT balance_id,
                    sum(CASE WHEN direction = 'credit' THEN amount ELSE -amount END) AS net,
                    count(*) AS n
               FROM operation
              GROUP BY balance_id) o ON o.balance_id = b.id
 WHERE b.available <> coalesce(o.net, 0) OR b.version <> coalesce(o.n, 0)
UNION ALL
SELECT 'asset/' || asset AS id, '1:' || asset AS ord, format('sum of balances %s ≠ 0', sum(available)) AS reason
  FROM balance
 GROUP BY asset
HAVING sum(available) <> 0`;

/** Balances that disagree with their operations, and assets whose balances do not sum to zero. */
export async function checkBalances(ctx: CheckContext): Promise<CheckResult> {
  const found = await queryFindings(ctx.db, FINDINGS_SQL, [], ctx.sampleLimit);
  const { rows } = await ctx.db.query<{ n: string }>(`SELECT count(*) AS n FROM balance`);
  return { ...found, checked: Number(rows[0]!.n) };
}
