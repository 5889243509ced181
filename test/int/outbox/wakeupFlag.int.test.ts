import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.ts';
import { createRelayMetrics } from '../../../src/ops/metrics.ts';
import { setRelayWaiting } from '../../../src/outbox/wakeupFlag.ts';
import { Drainer } from '../../../src/relay/drainer.ts';
import type { MetadataSink } from '../../../src/sink/metadataSink.ts';
import { createMongoSink } from '../../../src/sink/mongoSink.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
let listener: pg.Client;
let notifications = 0;
let probes = 0;
const PROBE = 'outbox_test_probe';

beforeEach(async () => {
  await t().pool.query('TRUNCATE outbox, outbox_delivered');
  await t().pool.query('UPDATE outbox_wakeup SET relay_waiting = true');
  notifications = 0;
  probes = 0;
  listener = new pg.Client({ connectionString: t().databaseUrl });
  await listener.connect();
  listener.on('notification', (n) => (n.channel === PROBE ? probes++ : notifications++));
  await listener.query(`LISTEN outbox; LISTEN ${PROBE}`);
});
afterEach(async () => {
  await listener.end();
});

/**
 * Outbox notifications received once everything notified so far has arrived:
 * Postgres delivers in commit order, so a probe notified now comes after them.
 */
async function notificationsSoFar(): Promise<number> {
  const target = probes + 1;
  await t().pool.query(`NOTIFY ${PROBE}`);
  await waitFor(() => probes >= target, { message: 'the probe notification' });
  return notifications;
}

const relayWaiting = async () => (await t().pool.query<{ relay_waiting: boolean }>('SELECT relay_waiting FROM outbox_wakeup')).rows[0]?.relay_waiting;
const insertOne = (id: string) => insertEvents(t().pool, [{ aggregateId: id, version: 1, metadata: { id } }]);

describe('outbox_wakeup: writers notify only while a relay waits', () => {
  it('notifies while a relay waits, stays silent while relays are busy, and notifies again once one waits', async () => {
    await insertOne('a');
    await waitFor(async () => notifications === 1);
    await setRelayWaiting(t().db, false);
    await insertOne('b');
    expect(await notificationsSoFar()).toBe(1);
    await setRelayWaiting(t().db, true);
    await insertOne('c');
    await waitFor(async () => notifications === 2);
  });

  it('notifies when the flag row is missing (the safe side)', async () => {
    await t().pool.query('DELETE FROM outbox_wakeup');
    try {
      await insertOne('a');
      await waitFor(async () => notifications === 1);
    } finally {
      await t().pool.query('INSERT INTO outbox_wakeup DEFAULT VALUES ON CONFLICT DO NOTHING');
    }
  });

  it('a draining relay says busy, and on running out of work says waiting and claims once more, catching rows committed while writers were silent', async () => {
    // The first batch is held until the test lets it go, so the row committed meanwhile finds the flag at "busy".
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    let batches = 0;
    const inner = createMongoSink(t().mongoDb);
    const sink: MetadataSink = { ...inner, apply: async (events, options) => (batches++ === 0 && (await firstHeld), inner.apply(events, options)) };
    const abort = new AbortController();
    const drainer = new Drainer(
      { db: t().db, sink, metrics: createRelayMetrics(), logger: silentLogger },
      { relayId: 'flag-relay', batchSize: 100, concurrency: 1, leaseMs: 30_000, pollIntervalMs: 60_000, maxAttempts: 10, backoffBaseMs: 100, backoffMaxMs: 1000, expectNotifications: true },
      abort.signal,
    );
    try {
      await insertEvents(t().pool, Array.from({ length: 10 }, (_, i) => ({ aggregateId: `first-${i}`, version: 1, metadata: { i } })));
      drainer.wake('manual');
      await waitFor(async () => (await relayWaiting()) === false, { message: 'the relay never said busy' });
      const before = notifications;
      await insertOne('during-the-batch');
      expect(await notificationsSoFar(), 'a writer notified while the relay said busy').toBe(before);
      expect(batches, 'the first batch is still in hand').toBe(1);
      releaseFirst();
      // No wake-up follows (no notification, a 60 s poll): only the claim after "waiting" can find it.
      await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { message: 'the row committed while busy was not caught up' });
      await drainer.current();
      expect(await relayWaiting()).toBe(true);
    } finally {
      releaseFirst();
      abort.abort();
      await drainer.current();
    }
  });

  it('a polling-only relay never touches the flag', async () => {
    await t().pool.query('UPDATE outbox_wakeup SET relay_waiting = true');
    const abort = new AbortController();
    let sawBusy = false;
    const inner = createMongoSink(t().mongoDb);
    const sink: MetadataSink = { ...inner, apply: async (events, options) => ((sawBusy ||= (await relayWaiting()) === false), inner.apply(events, options)) };
    const drainer = new Drainer(
      { db: t().db, sink, metrics: createRelayMetrics(), logger: silentLogger },
      { relayId: 'poll-relay', batchSize: 100, concurrency: 1, leaseMs: 30_000, pollIntervalMs: 1000, maxAttempts: 10, backoffBaseMs: 100, backoffMaxMs: 1000, expectNotifications: false },
      abort.signal,
    );
    await insertEvents(t().pool, Array.from({ length: 5 }, (_, i) => ({ aggregateId: `p-${i}`, version: 1, metadata: { i } })));
    drainer.wake('poll');
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0);
    abort.abort();
    await drainer.current();
    expect(sawBusy).toBe(false);
    expect(await relayWaiting()).toBe(true);
  });
});
