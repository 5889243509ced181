import { describe, expect, it } from 'vitest';
import { OutboxRelayError } from '../../../src/errors.ts';
import { MAX_AMOUNT, parseAmount } from '../../../src/ledger/parseAmount.ts';

function codeOf(value: unknown): string {
  try {
    parseAmount(value);
  } catch (error) {
    expect(error).toBeInstanceOf(OutboxRelayError);
    return (error as OutboxRelayError).code;
  }
  return 'accepted';
}

describe('parseAmount', () => {
  it('accepts bigints and decimal strings from 1 to the Postgres bigint maximum', () => {
    expect(parseAmount(1n)).toBe(1n);
    expect(parseAmount('1')).toBe(1n);
    expect(parseAmount('1050')).toBe(1050n);
    expect(parseAmount('9223372036854775807')).toBe(MAX_AMOUNT);
    expect(parseAmount(MAX_AMOUNT)).toBe(MAX_AMOUNT);
  });

  it('refuses JS numbers, even integral ones, telling the caller what to pass', () => {
    expect(() => parseAmount(5)).toThrow(/pass a bigint or a decimal string/);
    expect(codeOf(5)).toBe('INVALID_AMOUNT');
    expect(codeOf(2 ** 53 + 2)).toBe('INVALID_AMOUNT');
    expect(codeOf(0.1)).toBe('INVALID_AMOUNT');
  });

  it.each(['0', '-5', '-0', '5.0', '0.1', ' 5', '5 ', '0x10', '1e3', '007', '+5', '', '1_000', '١٢', '5n'])('refuses the string %j as INVALID_AMOUNT', (value) => {
    expect(codeOf(value)).toBe('INVALID_AMOUNT');
  });

  it('refuses zero and negative bigints as INVALID_AMOUNT', () => {
    expect(codeOf(0n)).toBe('INVALID_AMOUNT');
    expect(codeOf(-1n)).toBe('INVALID_AMOUNT');
  });

  it('refuses amounts above the bigint maximum as AMOUNT_OUT_OF_RANGE', () => {
    expect(codeOf('9223372036854775808')).toBe('AMOUNT_OUT_OF_RANGE');
    expect(codeOf(MAX_AMOUNT + 1n)).toBe('AMOUNT_OUT_OF_RANGE');
    expect(codeOf('1'.repeat(100_000))).toBe('AMOUNT_OUT_OF_RANGE');
  });

  it('refuses other types', () => {
    for (const value of [null, undefined, true, {}, [], Symbol('x')]) expect(codeOf(value)).toBe('INVALID_AMOUNT');
  });

  it('names the path in the message', () => {
    expect(() => parseAmount('x', 'entries[2].amount')).toThrow(/^entries\[2\]\.amount: /);
  });
});
