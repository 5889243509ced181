/** Shared helpers for the ledger integration tests (not a test file itself). */
import type pg from 'pg';
import { expect } from 'vitest';
import { OutboxRelayError } from '../../../src/errors.ts';

/** Everything a posting could touch: row counts plus every balance's amount, version and timestamp. */
export async function snapshot(pool: pg.Pool): Promise<unknown> {
  const counts = await pool.query(`
    SELECT (SELECT count(*)::int FROM balance) AS balance, (SELECT count(*)::int FROM "transaction") AS transaction,
           (SELECT count(*)::int FROM operation) AS operation, (SELECT count(*)::int FROM outbox) AS outbox,
           (SELECT count(*)::int FROM outbox_delivered) AS outbox_delivered`);
  const balances = await pool.query(`SELECT id, account, asset, available::text, version::text, updated_at FROM balance ORDER BY id`);
  return { counts: counts.rows[0], balances: balances.rows };
}

/** Run `action`, expect a typed error with `code`, and expect no table to have changed. */
export async function expectRefusedWithoutTrace(pool: pg.Pool, code: string, action: () => Promise<unknown>): Promise<OutboxRelayError> {
  const before = await snapshot(pool);
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  expect(caught, `expected ${code}`).toBeInstanceOf(OutboxRelayError);
  expect((caught as OutboxRelayError).code).toBe(code);
  expect(await snapshot(pool)).toEqual(before);
  return caught as OutboxRelayError;
}
