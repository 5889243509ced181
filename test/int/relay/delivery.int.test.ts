import { afterEach, describe, expect, it } from 'vitest';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import { insertEvents, outboxCounts, type FixtureEvent } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
let relays: Relay[] = [];
afterEach(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  relays = [];
});

function start(overrides: Parameters<typeof testRelayConfig>[1] = {}): Relay {
  const relay = createRelay(testRelayConfig(t(), overrides));
  relays.push(relay);
  return relay;
}

const docs = () => t().mongoDb.collection<{ _id: string; version: number; metadata: Record<string, unknown>; eventId: string; updatedAt: Date }>('transaction_metadata');

describe('delivery', () => {
  it('fences versions: 3, 1, 2 applied out of order and twice each leave version 3; replaying a delivered event changes nothing', async () => {
    const relay = start({ batchSize: 1, concurrency: 1 });
    await relay.start();
    const v = (version: number): FixtureEvent => ({ aggregateId: 'fenced', version, metadata: { content: `v${version}` } });
    for (const version of [3, 1, 2, 3, 1, 2]) {
      await insertEvents(t().pool, [v(version)]);
      await waitFor(async () => (await outboxCounts(t().pool)).pending === 0);
    }
    const doc = await docs().findOne({ _id: 'fenced' });
    expect(doc).toMatchObject({ version: 3, metadata: { content: 'v3' } });
    // Replay the very event that wrote the document (same event id) through the outbox.
    const { rows } = await t().pool.query(`SELECT event_id, payload FROM outbox_delivered WHERE event_id = $1`, [doc?.eventId]);
    expect(rows).toHaveLength(1);
    await insertEvents(t().pool, [{ ...v(3), eventId: rows[0].event_id }]);
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0);
    expect(await docs().findOne({ _id: 'fenced' })).toEqual(doc);
    expect((await outboxCounts(t().pool)).dead).toBe(0);
  });

  it('three relays at once over 5,000 events across 250 entities with several versions each: every document at its latest version, every row delivered, none dead', async () => {
    const events: FixtureEvent[] = [];
    for (let version = 1; version <= 20; version++) {
      for (let entity = 0; entity < 250; entity++) events.push({ aggregateId: `entity-${entity}`, version, metadata: { entity, version } });
    }
    // Shuffle so versions of one entity arrive out of order across claims.
    for (let i = events.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [events[i], events[j]] = [events[j]!, events[i]!];
    }
    const deliveredBefore = (await outboxCounts(t().pool)).delivered;
    await insertEvents(t().pool, events);
    const started = Date.now();
    await Promise.all([start({ batchSize: 200 }), start({ batchSize: 200 }), start({ batchSize: 200 })].map((r) => r.start()));
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 60_000 });
    const seconds = (Date.now() - started) / 1000;
    console.log(`three relays drained ${events.length} events in ${seconds.toFixed(2)} s (${Math.round(events.length / seconds)} events/s)`);
    const counts = await outboxCounts(t().pool);
    expect(counts).toMatchObject({ pending: 0, dead: 0 });
    expect(counts.delivered - deliveredBefore).toBe(5000);
    const all = await docs().find({ _id: { $regex: '^entity-' } as never }).toArray();
    expect(all).toHaveLength(250);
    for (const doc of all) expect(doc).toMatchObject({ version: 20, metadata: { version: 20 } });
    const perRelay = await t().pool.query(`SELECT delivered_by, count(*)::int AS n FROM outbox_delivered WHERE aggregate_id LIKE 'entity-%' GROUP BY 1`);
    expect(perRelay.rows.length).toBeGreaterThanOrEqual(2);
  });

  it('parks a poison event as dead after maxAttempts with its error, delivers the events around it, and delivers it after a fix and requeue', async () => {
    const relay = start({ maxAttempts: 3, backoffBaseMs: 20, backoffMaxMs: 50 });
    await relay.start();
    const [poisonId] = await insertEvents(t().pool, [
      { aggregateId: 'poison', version: 1, metadata: { $where: 'evil' } }, // MongoDB refuses $-prefixed field names
    ]);
    await insertEvents(t().pool, [
      { aggregateId: 'good-before', version: 1, metadata: { ok: true } },
      { aggregateId: 'good-after', version: 1, metadata: { ok: true } },
    ]);
    const dead = await waitFor(async () => (await t().pool.query(`SELECT attempts, last_error FROM outbox WHERE event_id = $1 AND status = 'dead'`, [poisonId])).rows[0], { timeoutMs: 20_000 });
    expect(dead.attempts).toBe(3);
    expect(dead.last_error).toMatch(/\$where|key|field/i);
    expect(await docs().countDocuments({ _id: { $in: ['good-before', 'good-after'] } })).toBe(2);
    expect((await relay.metrics.dead.get()).values[0]?.value).toBe(1);
    // Fix the cause, then requeue: it flows like any other event.
    await t().pool.query(`UPDATE outbox SET payload = '{"metadata":{"where":"fixed"}}' WHERE event_id = $1`, [poisonId]);
    const { requeueDead } = await import('../../../src/outbox/requeueDead.ts');
    expect(await requeueDead(t().db, { eventIds: [poisonId!] })).toMatchObject({ requeued: 1 });
    await waitFor(() => docs().findOne({ _id: 'poison' }), { timeoutMs: 10_000 });
    expect((await outboxCounts(t().pool)).dead).toBe(0);
  });
});
