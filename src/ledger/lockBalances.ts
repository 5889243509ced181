import sql from 'sql-template-tag';
import { NotFoundError } from '../errors.ts';
import type { SqlDb } from '../db/sqlDb.ts';

export interface BalanceKey {
  account: string;
  asset: string;
}

export interface LockedBalance extends BalanceKey {
  id: string;
  available: bigint;
  allowNegative: boolean;
}

/** Map key for an (account, asset) pair; NUL cannot occur in either, so it cannot collide. */
export function balanceKey(key: BalanceKey): string {
  return `${key.account}\u0000${key.asset}`;
}

/**
 * Lock the balances a posting touches, all in one statement and always in
 * (account, asset) order: two postings over overlapping balances then queue
 * behind each other instead of deadlocking. Row locks are taken as the sorted
 * rows come out, so the ORDER BY is the lock order.
 *
 * Throws `NotFoundError('UNKNOWN_BALANCE')` naming every pair that does not exist.
 */
export async function lockBalances(tx: SqlDb, keys: readonly BalanceKey[]): Promise<Map<string, LockedBalance>> {
  const unique = [...new Map(keys.map((k) => [balanceKey(k), k])).values()];
  const result = await tx.query<{ id: string; account: string; asset: string; available: string; allow_negative: boolean }>(sql`
    SELECT b.id::text, b.account, b.asset, b.available::text, b.allow_negative
    FROM balance b
    JOIN unnest(${unique.map((k) => k.account)}::text[], ${unique.map((k) => k.asset)}::text[]) AS k(account, asset)
      ON b.account = k.account AND b.asset = k.asset
    ORDER BY b.account, b.asset
    FOR UPDATE OF b`);
  const locked = new Map<string, LockedBalance>();
  for (const row of result.rows) {
    locked.set(balanceKey(row), { id: row.id, account: row.account, asset: row.asset, available: BigInt(row.available), allowNegative: row.allow_negative });
  }
  const missing = unique.filter((k) => !locked.has(balanceKey(k)));
  if (missing.length > 0) {
    const names = missing.slice(0, 10).map((k) => `${JSON.stringify(k.account)}/${JSON.stringify(k.asset)}`).join(', ');
    throw new NotFoundError('UNKNOWN_BALANCE', `no balance for ${names}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''}`, {
      details: { missing: missing.slice(0, 100) },
    });
  }
  return locked;
}
