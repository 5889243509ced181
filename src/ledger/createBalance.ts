import sql from 'sql-template-tag';
import { toSqlDb, type DbLike } from '../db/toSqlDb.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import { validateText } from '../metadata/validateText.ts';
import { MAX_ACCOUNT_LENGTH, MAX_ASSET_LENGTH } from './validatePostingRequest.ts';

export interface CreateBalanceInput {
  account: string;
  asset: string;
  /** A funding source (an external account) may go below zero. Default false. */
  allowNegative?: boolean;
}

export interface CreatedBalance {
  id: string;
  account: string;
  asset: string;
  allowNegative: boolean;
}

/**
 * Open a balance at zero for an (account, asset) pair. Throws
 * `ConflictError('BALANCE_EXISTS')` if it already exists (without aborting a
 * transaction the caller holds) and `ValidationError('INVALID_REQUEST')` on
 * bad input.
 */
export async function createBalance(db: DbLike, input: CreateBalanceInput): Promise<CreatedBalance> {
  if (input === null || typeof input !== 'object') throw new ValidationError('INVALID_REQUEST', 'balance: must be an object');
  const account = validateText(input.account, 'account', { min: 1, max: MAX_ACCOUNT_LENGTH, code: 'INVALID_REQUEST' });
  const asset = validateText(input.asset, 'asset', { min: 1, max: MAX_ASSET_LENGTH, code: 'INVALID_REQUEST' });
  const allowNegative = input.allowNegative ?? false;
  if (typeof allowNegative !== 'boolean') throw new ValidationError('INVALID_REQUEST', 'allowNegative: must be a boolean', { details: { path: 'allowNegative' } });
  // ON CONFLICT instead of catching 23505: a unique violation would abort the caller's transaction.
  const result = await toSqlDb(db).query<{ id: string }>(sql`
    INSERT INTO balance (account, asset, allow_negative) VALUES (${account}, ${asset}, ${allowNegative})
    ON CONFLICT (account, asset) DO NOTHING
    RETURNING id::text`);
  const row = result.rows[0];
  if (!row) {
    throw new ConflictError('BALANCE_EXISTS', `balance ${JSON.stringify(account)}/${JSON.stringify(asset)} already exists`, { details: { account, asset } });
  }
  return { id: row.id, account, asset, allowNegative };
}
