/**
 * A server that answers "read-only" (25006), as a hot standby does after a
 * failover put it behind the primary's address: here the test database gets
 * `default_transaction_read_only = on` and every connection to it is cut, so
 * the relay and the writer reconnect to a read-only server.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ConflictError, DatabaseError } from '../../../src/errors.ts';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import { createRelay } from '../../../src/relay/relay.ts';
import { capturedLogger } from '../../helpers/capturedLogger.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { adminUrl } from '../../helpers/urls.ts';
import { sleep, waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
const name = () => new URL(t().databaseUrl).pathname.slice(1);

async function asAdmin(sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const admin = new pg.Client({ connectionString: adminUrl(t().databaseUrl) });
  await admin.connect();
  try {
    return await admin.query(sql, values);
  } finally {
    await admin.end();
  }
}

/** A fresh connection that may write whatever the database default says (the test's own hand, not the relay's). */
async function writable<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: t().databaseUrl, application_name: 'read-only-test' });
  await client.connect();
  try {
    await client.query('SET default_transaction_read_only = off');
    return await fn(client);
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  await asAdmin(`ALTER DATABASE "${name()}" RESET default_transaction_read_only`).catch(() => {});
});

const posting = (key: string) => ({
  idempotencyKey: key,
  metadata: { key },
  entries: [
    { account: 'world', asset: 'EUR', direction: 'debit' as const, amount: 10n },
    { account: 'alice', asset: 'EUR', direction: 'credit' as const, amount: 10n },
  ],
});

describe('a read-only server (25006)', () => {
  it('is transient: the relay backs off without spending attempts or parking events, then recovers by itself; the writer gets a typed transient error, then posts again', async () => {
    for (const [account, allowNegative] of [['world', true], ['alice', false]] as const) {
      await createBalance(t().db, { account, asset: 'EUR', allowNegative }).catch((error: unknown) => {
        if (!(error instanceof ConflictError)) throw error;
      });
    }
    const { logger, lines } = capturedLogger();
    // maxAttempts 2: had a read-only answer counted as a failed attempt, these events would be dead within seconds.
    const relay = createRelay(testRelayConfig(t(), { maxAttempts: 2, backoffBaseMs: 50, backoffMaxMs: 100 }), { logger });
    await relay.start();
    try {
      await asAdmin(`ALTER DATABASE "${name()}" SET default_transaction_read_only = on`);
      // Every session to it ends (the relay's, its listener's, the test pool's): they come back read-only.
      await asAdmin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name()]);
      await writable((client) => insertEvents(client as unknown as pg.Pool, Array.from({ length: 50 }, (_, i) => ({ aggregateId: `ro-${i}`, version: 1, metadata: { i } }))));
      relay.wake();
      await waitFor(() => lines.filter((l) => l.includes('PostgreSQL unavailable or read-only')).length >= 3, { timeoutMs: 30_000, message: 'the relay met the read-only server three times' });
      expect(lines.some((l) => l.includes('25006') || l.includes('read-only transaction'))).toBe(true);
      const during = await writable(async (client) => (await client.query<{ pending: number; dead: number; attempts: number }>(
        `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending, count(*) FILTER (WHERE status = 'dead')::int AS dead, coalesce(max(attempts), 0)::int AS attempts FROM outbox`,
      )).rows[0]!);
      expect(during).toEqual({ pending: 50, dead: 0, attempts: 0 });

      // The writer: a typed, transient error, nothing written.
      const refused = await postTransaction(t().db, posting('ro-post')).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(DatabaseError);
      expect((refused as DatabaseError).details).toMatchObject({ sqlstate: '25006', transient: true });

      await asAdmin(`ALTER DATABASE "${name()}" RESET default_transaction_read_only`);
      // Nobody restarts anything: the relay drains on its own.
      await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 60_000, message: 'the relay recovered and drained' });
      // The writer's pool still holds connections opened read-only; each one that answers 25006 is dropped, so a few retries post.
      let tries = 0;
      await waitFor(
        async () => {
          tries++;
          return postTransaction(t().db, posting('ro-post')).then(
            () => true,
            async (error: unknown) => {
              expect(error).toBeInstanceOf(DatabaseError);
              await sleep(20);
              return false;
            },
          );
        },
        { timeoutMs: 30_000, message: 'the writer posts again' },
      );
      expect(tries).toBeLessThanOrEqual(12);
    } finally {
      await relay.stop();
    }
    const { rows } = await t().pool.query<{ delivered: number; max_attempts: number }>(
      `SELECT count(*)::int AS delivered, coalesce(max(attempts), 0)::int AS max_attempts FROM outbox_delivered WHERE aggregate_id LIKE 'ro-%'`,
    );
    expect(rows[0]).toEqual({ delivered: 50, max_attempts: 0 });
    expect((await outboxCounts(t().pool)).dead).toBe(0);
  });
});
