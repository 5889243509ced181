import type pg from 'pg';
import sql from 'sql-template-tag';
import { describe, expect, it } from 'vitest';
import { poolDb, toSqlDb } from '../../../src/db/toSqlDb.ts';

/** A pool that records what it was asked to run (a pg.Pool counts its clients: `totalCount`). */
function recordingPool(): { pool: pg.Pool; ran: pg.QueryConfig[] } {
  const ran: pg.QueryConfig[] = [];
  const pool = { totalCount: 0, query: async (config: pg.QueryConfig) => (ran.push(config), { rows: [], rowCount: 0 }) } as unknown as pg.Pool;
  return { pool, ran };
}

describe('toSqlDb', () => {
  it('runs a named statement unnamed in transaction mode, the default (a name breaks behind a transaction-pooling PgBouncer)', async () => {
    const { pool, ran } = recordingPool();
    await toSqlDb(pool).query({ name: 'outbox_claim_batch', text: 'SELECT $1', values: [1] });
    await poolDb(pool, 'transaction').query({ name: 'outbox_claim_batch', text: 'SELECT $1', values: [1] });
    expect(ran).toEqual([
      { text: 'SELECT $1', values: [1] },
      { text: 'SELECT $1', values: [1] },
    ]);
  });

  it('keeps the name (prepared once per connection) only on a session-mode handle', async () => {
    const { pool, ran } = recordingPool();
    await poolDb(pool, 'session').query({ name: 'outbox_claim_batch', text: 'SELECT $1', values: [1] });
    expect(ran).toEqual([{ name: 'outbox_claim_batch', text: 'SELECT $1', values: [1] }]);
  });

  it('takes text with values, and a sql-template-tag statement, as node-postgres does', async () => {
    const { pool, ran } = recordingPool();
    const db = toSqlDb(pool);
    await db.query('SELECT $1, $2', ['a', [1, 2]]);
    await db.query(sql`SELECT ${'a'}, ${[1, 2]}::int[]`);
    expect(ran).toEqual([
      { text: 'SELECT $1, $2', values: ['a', [1, 2]] },
      { text: 'SELECT $1, $2::int[]', values: ['a', [1, 2]] },
    ]);
  });

  it('returns a handle of ours as it is, and reads a drizzle database through its node-postgres client', async () => {
    const { pool, ran } = recordingPool();
    const db = poolDb(pool, 'session');
    expect(toSqlDb(db)).toBe(db);
    const drizzleLike = { $client: pool, execute: () => Promise.reject(new Error('drizzle must not be used when its client is at hand')) };
    await toSqlDb(drizzleLike as never, 'session').query({ name: 'n', text: 'SELECT 1' });
    expect(ran).toEqual([{ name: 'n', text: 'SELECT 1', values: undefined }]);
  });
});
