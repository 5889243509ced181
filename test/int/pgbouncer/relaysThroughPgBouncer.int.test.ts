/**
 * The relay, the writer and the periodic jobs through a real PgBouncer 1.18
 * (transaction pooling, default_pool_size 4: the relays' and the writer's
 * clients share four server connections), LISTEN direct.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDb, createPool, type Db } from '../../../src/db/client.ts';
import { ConflictError } from '../../../src/errors.ts';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import { outboxCounts } from '../../helpers/outboxFixtures.ts';
import { pgbouncerAdmin, viaPgBouncer } from '../../helpers/pgbouncer.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
let writerPool: pg.Pool;
let writer: Db;
let relays: Relay[] = [];

beforeAll(async () => {
  writerPool = createPool(viaPgBouncer(t().databaseUrl), { max: 8, applicationName: 'pgbouncer-test-writer' });
  writer = createDb(writerPool);
  for (const [account, allowNegative] of [['world', true], ['alice', false], ['bob', false]] as const) {
    await createBalance(writer, { account, asset: 'EUR', allowNegative }).catch((error: unknown) => {
      if (!(error instanceof ConflictError)) throw error;
    });
  }
});
afterAll(async () => {
  await writerPool.end();
});
afterEach(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  relays = [];
});

function startRelays(count: number, overrides: Parameters<typeof testRelayConfig>[1] = {}): Promise<Relay[]> {
  const started = Array.from({ length: count }, () =>
    createRelay(
      testRelayConfig(t(), {
        databaseUrl: viaPgBouncer(t().databaseUrl),
        // LISTEN cannot go through transaction pooling: its own direct URL.
        listenDatabaseUrl: t().databaseUrl,
        poolSize: 4,
        ...overrides,
      }),
    ),
  );
  relays.push(...started);
  return Promise.all(started.map((r) => r.start())).then(() => started);
}

/** Through PgBouncer, with the writer's pool: a posting with transaction and operation metadata (3 events). */
async function post(n: number): Promise<void> {
  const orderId = randomUUID();
  await postTransaction(writer, {
    idempotencyKey: `pgbouncer:${orderId}`,
    metadata: { orderId, n },
    entries: [
      { account: 'world', asset: 'EUR', direction: 'debit', amount: 100n, metadata: { memo: 'funding' } },
      { account: n % 2 ? 'alice' : 'bob', asset: 'EUR', direction: 'credit', amount: 100n, metadata: { memo: 'credit' } },
    ],
  });
}

async function postMany(count: number, concurrency = 8): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await post(next++);
    }),
  );
}

/** Advisory locks held by server connections that sit idle (outside any transaction): leaked locks. */
async function advisoryLocksOnIdleConnections(): Promise<number> {
  const { rows } = await t().pool.query<{ n: number }>(
    `SELECT count(*)::int AS n
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() AND a.state = 'idle'`,
  );
  return rows[0]!.n;
}

async function serverConnections(): Promise<number> {
  const { rows } = await t().pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name NOT LIKE 'outbox-relay-listen%' AND application_name <> 'outbox-relay-test'`,
  );
  return rows[0]!.n;
}

describe('through PgBouncer in transaction pooling mode', () => {
  it('two relays drain 4 rounds of 100 postings; with retention 0 every round is pruned; no advisory lock is left on an idle server connection', async () => {
    await startRelays(2, { retentionHours: 0, pruneIntervalMs: 1000 });
    let eventsSoFar = 0;
    for (let round = 1; round <= 4; round++) {
      await postMany(100);
      const { rows } = await t().pool.query<{ n: number }>(`SELECT (SELECT count(*) FROM outbox)::int + (SELECT count(*) FROM outbox_delivered)::int AS n`);
      expect(rows[0]!.n).toBeGreaterThan(0);
      await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 60_000, message: `round ${round} drained` });
      const delivered = await t().pool.query<{ n: number }>(`SELECT coalesce(sum(delivered_count), 0)::int AS n FROM outbox_relay`);
      // Pruning (retention 0) empties outbox_delivered every round: the prune lock is taken again each time.
      await waitFor(async () => (await outboxCounts(t().pool)).delivered === 0, { timeoutMs: 30_000, message: `round ${round} pruned` });
      eventsSoFar += 300;
      expect(delivered.rows[0]!.n).toBeLessThanOrEqual(eventsSoFar);
    }
    // 400 postings × 3 events, all delivered once: the relays' own counters add up.
    await waitFor(async () => (await t().pool.query<{ n: number }>(`SELECT coalesce(sum(delivered_count), 0)::int AS n FROM outbox_relay`)).rows[0]!.n === 1200, {
      timeoutMs: 10_000,
      message: 'heartbeats report 1200 deliveries',
    });
    expect((await outboxCounts(t().pool)).dead).toBe(0);
    expect(await t().mongoDb.collection('transaction_metadata').countDocuments()).toBe(400);
    // The relays and the writer really went through PgBouncer: at most default_pool_size (4) server connections.
    const pools = await pgbouncerAdmin('SHOW POOLS');
    const ours = pools.find((p) => p.database === new URL(t().databaseUrl).pathname.slice(1));
    expect(ours).toMatchObject({ pool_mode: 'transaction' });
    expect(await serverConnections()).toBeLessThanOrEqual(4);
    expect(await advisoryLocksOnIdleConnections()).toBe(0);
    await Promise.all(relays.map((r) => r.stop()));
    relays = [];
    expect(await advisoryLocksOnIdleConnections()).toBe(0);
  });

  it('periodic reconcile through PgBouncer records its runs in reconcile_run, never two at once', async () => {
    await postMany(20);
    await startRelays(2, { reconcileEveryMs: 300 });
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 60_000, message: 'drained' });
    const relayIds = relays.map((r) => r.id);
    await waitFor(
      async () => (await t().pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM reconcile_run WHERE ran_by = ANY($1)`, [relayIds])).rows[0]!.n >= 4,
      { timeoutMs: 90_000, message: '4 periodic reconcile runs recorded' },
    );
    await Promise.all(relays.map((r) => r.stop()));
    relays = [];
    const { rows } = await t().pool.query<{ started_at: Date; finished_at: Date; ok: boolean; ran_by: string }>(
      `SELECT started_at, finished_at, ok, ran_by FROM reconcile_run WHERE ran_by = ANY($1) ORDER BY started_at`,
      [relayIds],
    );
    expect(rows.every((r) => r.ok)).toBe(true);
    for (const [i, run] of rows.entries()) {
      expect(run.finished_at.getTime()).toBeGreaterThanOrEqual(run.started_at.getTime());
      const next = rows[i + 1];
      // Never two at once: each run finished before the next one started.
      if (next) expect(next.started_at.getTime()).toBeGreaterThanOrEqual(run.finished_at.getTime());
    }
    expect(await advisoryLocksOnIdleConnections()).toBe(0);
  });
});
