import { ValidationError } from '../errors.ts';

/** Smallest and largest amount a posting entry may carry (Postgres bigint). */
export const MIN_AMOUNT = 1n;
export const MAX_AMOUNT = 9_223_372_036_854_775_807n;

// Digits only, no sign, no leading zero: one spelling per amount, so the
// request hash of equal requests is equal.
const DECIMAL = /^[1-9][0-9]*$/;

/**
 * An amount in minor units: a `bigint`, or a decimal string of digits.
 * Numbers are refused even when integral: above 2^53 they have already lost
 * precision by the time we see them.
 *
 * Throws `ValidationError('INVALID_AMOUNT')` for anything that is not a
 * positive whole amount, `ValidationError('AMOUNT_OUT_OF_RANGE')` above
 * the Postgres bigint maximum.
 */
export function parseAmount(value: unknown, path = 'amount'): bigint {
  let amount: bigint;
  if (typeof value === 'bigint') {
    amount = value;
  } else if (typeof value === 'string') {
    if (!DECIMAL.test(value)) {
      fail('INVALID_AMOUNT', path, `${preview(value)} is not a positive whole number of minor units (digits only, no sign, no leading zeros)`);
    }
    // Cheap guard before BigInt() on a megabyte of digits.
    if (value.length > 19) fail('AMOUNT_OUT_OF_RANGE', path, `${preview(value)} is above ${MAX_AMOUNT}`);
    amount = BigInt(value);
  } else if (typeof value === 'number') {
    return fail('INVALID_AMOUNT', path, `got the number ${value}: pass a bigint or a decimal string (numbers lose precision above 2^53)`);
  } else {
    return fail('INVALID_AMOUNT', path, `got ${value === null ? 'null' : typeof value}: pass a bigint or a decimal string`);
  }
  if (amount < MIN_AMOUNT) fail('INVALID_AMOUNT', path, `${amount} is not positive`);
  if (amount > MAX_AMOUNT) fail('AMOUNT_OUT_OF_RANGE', path, `${amount} is above ${MAX_AMOUNT}`);
  return amount;
}

function preview(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

function fail(code: 'INVALID_AMOUNT' | 'AMOUNT_OUT_OF_RANGE', path: string, message: string): never {
  throw new ValidationError(code, `${path}: ${message}`, { details: { path } });
}
