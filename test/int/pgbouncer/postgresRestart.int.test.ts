/**
 * A PostgreSQL primary restart behind the same address, mid-drain. The
 * cluster is this file's own (scripts/ownPostgres.ts: initdb on a free port,
 * run unprivileged), so restarting it disturbs nobody else; the relays reach
 * it through a PgBouncer of their own (transaction pooling, pool size 4), as
 * in production, and LISTEN directly.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { MongoClient, type Db as MongoDb } from 'mongodb';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startOwnPostgres, type OwnPostgres } from '../../../scripts/ownPostgres.ts';
import { startPgBouncer, type PgBouncer } from '../../../scripts/pgbouncer.ts';
import { createDb, createPool } from '../../../src/db/client.ts';
import { runMigrations } from '../../../src/db/migrate.ts';
import { DatabaseError } from '../../../src/errors.ts';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { sleep, waitFor } from '../../helpers/waitFor.ts';

let own: OwnPostgres;
let bouncer: PgBouncer;
let mongo: MongoClient;
let mongoDb: MongoDb;
// Not pg_…: FerretDB makes a PostgreSQL schema of it, and pg_ names are reserved.
const mongoDbName = `outbox_relay_restart_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  own = await startOwnPostgres();
  const admin = new pg.Client({ connectionString: own.url('postgres') });
  await admin.connect();
  await admin.query('CREATE DATABASE relay');
  await admin.end();
  await runMigrations(own.url('relay'));
  bouncer = await startPgBouncer({ target: { host: own.host, port: own.port }, poolMode: 'transaction', defaultPoolSize: 4 });
  mongo = new MongoClient(inject('services').mongoUrl, { serverSelectionTimeoutMS: 10_000 });
  await mongo.connect();
  mongoDb = mongo.db(mongoDbName);
}, 120_000);

afterAll(async () => {
  await mongoDb?.dropDatabase().catch(() => {});
  await mongo?.close().catch(() => {});
  await bouncer?.stop();
  await own?.stop();
});

/** A fresh pg.Client per look, so the test's own reads never depend on a connection the restart cut. */
async function direct<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: own.url('relay') });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

describe('a PostgreSQL restart during a drain', () => {
  it('5,000 events: relays and the writer recover by themselves; all delivered, no duplicate effect, none dead', { timeout: 240_000 }, async () => {
    // 2,500 entities × 2 versions: the fence has work to do if anything is applied twice or out of order.
    const events = Array.from({ length: 5000 }, (_, i) => ({ aggregateId: `e-${i % 2500}`, version: 1 + Math.floor(i / 2500), metadata: { i } }));
    await direct(async (client) => {
      for (let i = 0; i < events.length; i += 1000) await insertEvents(client as unknown as pg.Pool, events.slice(i, i + 1000));
    });
    const writerPool = createPool(bouncer.url('relay'), { max: 4, applicationName: 'restart-writer' });
    writerPool.on('error', () => {});
    const writer = createDb(writerPool);
    await createBalance(writer, { account: 'world', asset: 'EUR', allowNegative: true });
    await createBalance(writer, { account: 'alice', asset: 'EUR' });
    const startedBefore = await direct(async (c) => (await c.query<{ t: Date }>('SELECT pg_postmaster_start_time() AS t')).rows[0]!.t);

    const relays: Relay[] = [0, 1].map(() =>
      createRelay(
        testRelayConfig(
          { databaseUrl: bouncer.url('relay'), mongoUrl: inject('services').mongoUrl, mongoDbName } as Parameters<typeof testRelayConfig>[0],
          { listenDatabaseUrl: own.url('relay'), poolSize: 4, batchSize: 100, leaseMs: 3000 },
        ),
      ),
    );
    try {
      await Promise.all(relays.map((r) => r.start()));
      await waitFor(async () => direct(async (c) => (await outboxCounts(c as unknown as pg.Pool)).delivered >= 500), { timeoutMs: 60_000, message: '500 delivered before the restart' });
      const before = await direct(async (c) => outboxCounts(c as unknown as pg.Pool));
      expect(before.pending).toBeGreaterThan(0); // the restart hits a drain in progress

      await own.restart({ downMs: 1500 });
      const startedAfter = await direct(async (c) => (await c.query<{ t: Date }>('SELECT pg_postmaster_start_time() AS t')).rows[0]!.t);
      expect(startedAfter.getTime()).toBeGreaterThan(startedBefore.getTime());

      // The writer, through the same PgBouncer and pool: its first tries may meet the restart's
      // aftermath (a typed, transient DatabaseError); the same idempotency key is retried until it posts.
      const key = `after-restart:${randomUUID()}`;
      let writerErrors = 0;
      await waitFor(
        async () => {
          try {
            await postTransaction(writer, {
              idempotencyKey: key,
              metadata: { after: 'restart' },
              entries: [
                { account: 'world', asset: 'EUR', direction: 'debit', amount: 5n },
                { account: 'alice', asset: 'EUR', direction: 'credit', amount: 5n },
              ],
            });
            return true;
          } catch (error) {
            expect(error).toBeInstanceOf(DatabaseError);
            writerErrors++;
            await sleep(200);
            return false;
          }
        },
        { timeoutMs: 60_000, message: 'the writer posts again after the restart' },
      );
      expect(writerErrors).toBeLessThan(100);

      await waitFor(async () => direct(async (c) => (await outboxCounts(c as unknown as pg.Pool)).pending === 0), { timeoutMs: 180_000, intervalMs: 250, message: 'drained after the restart' });
    } finally {
      await Promise.all(relays.map((r) => r.stop()));
      await writerPool.end().catch(() => {});
    }

    const after = await direct(async (c) => outboxCounts(c as unknown as pg.Pool));
    expect(after).toMatchObject({ pending: 0, dead: 0 });
    const delivered = await direct(async (c) => (await c.query<{ fixtures: number; posting: number }>(
      `SELECT count(*) FILTER (WHERE aggregate_id LIKE 'e-%')::int AS fixtures, count(*) FILTER (WHERE aggregate_id NOT LIKE 'e-%')::int AS posting FROM outbox_delivered`,
    )).rows[0]!);
    // Each delivered once (outbox_delivered's event_id is unique), the posting's events too.
    expect(delivered.fixtures).toBe(5000);
    expect(delivered.posting).toBeGreaterThanOrEqual(1);
    // No duplicate effect: every document holds its newest version, written by the event that carried it.
    const carried = await direct(
      async (c) =>
        new Map(
          (await c.query<{ aggregate_id: string; version: number; event_id: string }>(`SELECT aggregate_id, version, event_id::text FROM outbox_delivered WHERE aggregate_type = 'transaction' AND aggregate_id LIKE 'e-%'`)).rows.map(
            (r) => [`${r.aggregate_id}/${r.version}`, r.event_id],
          ),
        ),
    );
    const docs = await mongoDb.collection<{ _id: string; version: number; eventId: string }>('transaction_metadata').find({ _id: { $regex: '^e-' } }).toArray();
    expect(docs).toHaveLength(2500);
    const wrong = docs.filter((d) => d.version !== 2 || carried.get(`${d._id}/2`) !== d.eventId);
    expect(wrong).toEqual([]);
  });
});
