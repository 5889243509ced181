import { InsufficientFundsError, ValidationError } from '../errors.ts';
import { balanceKey, type LockedBalance } from './lockBalances.ts';
import { MAX_AMOUNT } from './parseAmount.ts';
import type { NormalisedEntry } from './validatePostingRequest.ts';

const MIN_BIGINT = -MAX_AMOUNT - 1n;

export interface AppliedOperation {
  entryIndex: number;
  balanceId: string;
  balanceBefore: bigint;
  balanceAfter: bigint;
}

export interface BalanceChange {
  id: string;
  available: bigint;
  /** Operations applied to this balance: its version goes up by this much. */
  operations: number;
}

/**
 * Apply entries in request order to locked balances (pure). A debit takes
 * money out, a credit puts it in. Every intermediate balance is checked, not
 * only the final one, so the operation history of a non-negative balance
 * never shows it below zero.
 */
export function applyEntries(balances: ReadonlyMap<string, LockedBalance>, entries: readonly NormalisedEntry[]): { operations: AppliedOperation[]; changes: BalanceChange[] } {
  const running = new Map<string, BalanceChange>();
  const operations = entries.map((entry, entryIndex): AppliedOperation => {
    const balance = balances.get(balanceKey(entry));
    if (!balance) throw new Error(`balance ${entry.account}/${entry.asset} was not locked`);
    const change = running.get(balance.id) ?? { id: balance.id, available: balance.available, operations: 0 };
    const before = change.available;
    const after = entry.direction === 'debit' ? before - entry.amount : before + entry.amount;
    const where = { path: `entries[${entryIndex}]`, account: entry.account, asset: entry.asset, before: before.toString(), amount: entry.amount.toString() };
    if (after > MAX_AMOUNT || after < MIN_BIGINT) {
      throw new ValidationError('AMOUNT_OUT_OF_RANGE', `entries[${entryIndex}]: balance ${JSON.stringify(entry.account)}/${JSON.stringify(entry.asset)} would leave the bigint range`, { details: where });
    }
    if (after < 0n && !balance.allowNegative) {
      throw new InsufficientFundsError(
        'INSUFFICIENT_FUNDS',
        `entries[${entryIndex}]: balance ${JSON.stringify(entry.account)}/${JSON.stringify(entry.asset)} has ${before}, cannot debit ${entry.amount}`,
        { details: where },
      );
    }
    change.available = after;
    change.operations += 1;
    running.set(balance.id, change);
    return { entryIndex, balanceId: balance.id, balanceBefore: before, balanceAfter: after };
  });
  return { operations, changes: [...running.values()] };
}
