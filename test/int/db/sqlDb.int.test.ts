import { describe, expect, it } from 'vitest';
import sql from 'sql-template-tag';
import { createPool } from '../../../src/db/pool.ts';
import { poolDb, toSqlDb } from '../../../src/db/toSqlDb.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';

const t = useTestDatabases();

async function labels(): Promise<string[]> {
  const { rows } = await t().pool.query<{ label: string }>('SELECT label FROM sql_db_probe ORDER BY label');
  return rows.map((r) => r.label);
}

describe('SqlDb: one handle on a pool, a transaction and a drizzle transaction', () => {
  it('a transaction commits its statements together, and rolls back all of them on an error', async () => {
    await t().pool.query('CREATE TABLE sql_db_probe (label text PRIMARY KEY)');
    const db = poolDb(t().pool);
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO sql_db_probe VALUES ($1)', ['committed-1']);
      await tx.query(sql`INSERT INTO sql_db_probe VALUES (${'committed-2'})`);
    });
    const failure = new Error('body failed');
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO sql_db_probe VALUES ($1)', ['rolled-back']);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await labels()).toEqual(['committed-1', 'committed-2']);
  });

  it('a transaction inside a transaction is a savepoint: its failure undoes only its own work', async () => {
    const db = poolDb(t().pool);
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO sql_db_probe VALUES ($1)', ['outer']);
      await expect(
        tx.transaction(async (inner) => {
          await inner.query('INSERT INTO sql_db_probe VALUES ($1)', ['inner-undone']);
          await inner.query('INSERT INTO sql_db_probe VALUES ($1)', ['outer']); // duplicate key: fails the savepoint
        }),
      ).rejects.toThrow(/duplicate key/);
      await tx.transaction((inner) => inner.query('INSERT INTO sql_db_probe VALUES ($1)', ['inner-kept']));
    });
    expect(await labels()).toEqual(['committed-1', 'committed-2', 'inner-kept', 'outer']);
  });

  it('a connection keeps session state between statements, and is closed rather than pooled when its body fails', async () => {
    const pool = createPool(t().databaseUrl, { max: 1 });
    try {
      const db = poolDb(pool, 'session');
      const seen = await db.connection(async (session) => {
        await session.query('CREATE TEMP TABLE sql_db_session (n int)');
        await session.query('INSERT INTO sql_db_session VALUES (1), (2)');
        return (await session.query<{ n: number }>('SELECT count(*)::int AS n FROM sql_db_session')).rows[0]?.n;
      });
      expect(seen).toBe(2);
      const pidBefore = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      await expect(db.connection(() => Promise.reject(new Error('half-done session work')))).rejects.toThrow('half-done');
      // The failed connection was destroyed: the next statement runs on a new backend, without the temp table.
      const pidAfter = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      expect(pidAfter).not.toBe(pidBefore);
      expect((await db.query<{ t: string | null }>(`SELECT to_regclass('pg_temp.sql_db_session')::text AS t`)).rows[0]?.t).toBeNull();
    } finally {
      await pool.end();
    }
  });

  it("a drizzle transaction runs `$n` statements through drizzle, an array staying one parameter, and rolls back with the caller's transaction", async () => {
    const rollback = new Error('caller rolls back');
    await expect(
      t().drizzle.transaction(async (drizzleTx) => {
        const db = toSqlDb(drizzleTx);
        await db.query('INSERT INTO sql_db_probe SELECT unnest($1::text[])', [['drizzle-a', 'drizzle-b']]);
        const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM sql_db_probe WHERE label = ANY($1::text[]) OR label = $2', [['drizzle-a', 'drizzle-b'], 'outer']);
        expect(rows[0]?.n).toBe(3);
        await db.transaction((inner) => inner.query('INSERT INTO sql_db_probe VALUES ($1)', ['drizzle-savepoint']));
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(await labels()).toEqual(['committed-1', 'committed-2', 'inner-kept', 'outer']);
  });
});
