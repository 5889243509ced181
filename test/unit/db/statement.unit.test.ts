import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { statement } from '../../../src/db/statement.ts';

const pool = {} as pg.Pool;

describe('statement', () => {
  it('is unnamed by default and in transaction mode (a name breaks behind a transaction-pooling PgBouncer)', () => {
    expect(statement({ $client: pool }, 'outbox_claim_batch', 'SELECT $1', [1])).toEqual({ text: 'SELECT $1', values: [1] });
    expect(statement({ $client: pool, poolMode: 'transaction' }, 'outbox_claim_batch', 'SELECT $1', [1])).not.toHaveProperty('name');
  });

  it('is named (prepared once per connection) only when the pool is session-mode', () => {
    expect(statement({ $client: pool, poolMode: 'session' }, 'outbox_claim_batch', 'SELECT $1', [1])).toEqual({ name: 'outbox_claim_batch', text: 'SELECT $1', values: [1] });
  });
});
