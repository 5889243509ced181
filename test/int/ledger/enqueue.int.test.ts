import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_METADATA_BYTES } from '../../../src/metadata/validateMetadata.ts';
import { enqueue } from '../../../src/outbox/enqueue.ts';
import type { OutboxEventInput } from '../../../src/types.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { expectRefusedWithoutTrace } from './ledgerFixtures.ts';

const t = useTestDatabases();

const event = (patch: Record<string, unknown> = {}): OutboxEventInput =>
  ({ aggregateType: 'invoice', aggregateId: `inv-${randomUUID()}`, version: 1, payload: { metadata: { total: 12 } }, ...patch }) as OutboxEventInput;

async function outboxCount(): Promise<number> {
  return (await t().pool.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n;
}

describe('enqueue', () => {
  let listener: pg.Client;
  let notifications: string[];
  let probes: number;
  const PROBE = 'outbox_test_probe';

  beforeEach(async () => {
    notifications = [];
    listener = new pg.Client({ connectionString: t().databaseUrl });
    await listener.connect();
    probes = 0;
    listener.on('notification', (n) => (n.channel === PROBE ? probes++ : notifications.push(n.channel)));
    await listener.query(`LISTEN outbox; LISTEN ${PROBE}`);
  });

  afterEach(async () => {
    await listener.end();
  });

  async function waitForNotification(): Promise<void> {
    await waitFor(() => notifications.length > 0, { message: 'a notification on outbox' });
  }

  /**
   * The outbox notifications received so far, once everything notified before
   * this call has arrived: Postgres delivers notifications in commit order, so
   * a probe notified now (autocommit, another session) arrives after them.
   */
  async function notificationsSoFar(): Promise<string[]> {
    const target = probes + 1;
    await t().pool.query(`NOTIFY ${PROBE}`);
    await waitFor(() => probes >= target, { message: 'the probe notification' });
    return [...notifications];
  }

  it('inside a drizzle transaction that rolls back leaves no row and sends no notification', async () => {
    const before = await outboxCount();
    const rollback = new Error('rollback');
    await expect(
      t().drizzle.transaction(async (tx) => {
        const row = await enqueue(tx, event());
        expect(row.id).toBeGreaterThan(0);
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(await outboxCount()).toBe(before);
    expect(await notificationsSoFar()).toEqual([]);
  });

  it('inside a drizzle transaction that commits leaves exactly one row, and NOTIFY arrives only after the commit', async () => {
    const before = await outboxCount();
    const input = event({ eventType: 'metadata.upserted', payload: { metadata: { b: 2, a: [1, 'x'] } } });
    const result = await t().drizzle.transaction(async (tx) => {
      const row = await enqueue(tx, input);
      // A notification sent before commit would have arrived before the probe.
      expect(await notificationsSoFar()).toEqual([]);
      return row;
    });
    await waitForNotification();
    expect(notifications).toEqual(['outbox']);
    expect(await outboxCount()).toBe(before + 1);
    const { rows } = await t().pool.query('SELECT id::int, event_id::text, aggregate_type, aggregate_id, version, event_type, payload, status FROM outbox WHERE id = $1', [result.id]);
    expect(rows[0]).toEqual({
      id: result.id,
      event_id: result.eventId,
      aggregate_type: 'invoice',
      aggregate_id: input.aggregateId,
      version: 1,
      event_type: 'metadata.upserted',
      payload: { metadata: { a: [1, 'x'], b: 2 } },
      status: 'pending',
    });
  });

  it('works with a plain node-postgres PoolClient between BEGIN and COMMIT (and ROLLBACK)', async () => {
    const client = await t().pool.connect();
    try {
      const before = await outboxCount();
      await client.query('BEGIN');
      await enqueue(client, event());
      await client.query('ROLLBACK');
      expect(await outboxCount()).toBe(before);

      await client.query('BEGIN');
      const row = await enqueue(client, event({ eventId: randomUUID() }));
      expect(await notificationsSoFar()).toEqual([]);
      expect(await outboxCount()).toBe(before); // not visible to others yet
      await client.query('COMMIT');
      await waitForNotification();
      expect(notifications).toEqual(['outbox']);
      expect(await outboxCount()).toBe(before + 1);
      expect((await t().pool.query('SELECT count(*)::int AS n FROM outbox WHERE id = $1', [row.id])).rows[0].n).toBe(1);
    } finally {
      client.release();
    }
  });

  it('is idempotent per eventId: the same id again returns the existing row, pending or already delivered', async () => {
    const eventId = randomUUID();
    const first = await t().drizzle.transaction((tx) => enqueue(tx, event({ eventId })));
    const before = await outboxCount();
    const again = await t().drizzle.transaction((tx) => enqueue(tx, event({ eventId: eventId.toUpperCase() })));
    expect(again).toEqual(first);
    expect(await outboxCount()).toBe(before);

    // A delivered event lives in outbox_delivered; enqueueing it again must not resurrect it.
    const delivered = randomUUID();
    await t().pool.query(
      `INSERT INTO outbox_delivered (id, event_id, aggregate_type, aggregate_id, version, event_type, payload, delivered_by)
       VALUES (999999, $1, 'invoice', 'inv-delivered', 1, 'metadata.upserted', '{"metadata":{}}', 'test-relay')`,
      [delivered],
    );
    const replay = await t().drizzle.transaction((tx) => enqueue(tx, event({ eventId: delivered })));
    expect(replay).toEqual({ id: 999999, eventId: delivered });
    expect(await outboxCount()).toBe(before);
  });

  it.each([
    ['no aggregateType', { aggregateType: undefined }, 'INVALID_EVENT'],
    ['an aggregateType with capitals', { aggregateType: 'Invoice' }, 'INVALID_EVENT'],
    ['an aggregateType with a dot', { aggregateType: 'a.b' }, 'INVALID_EVENT'],
    ['an aggregateType of 49 chars', { aggregateType: `a${'b'.repeat(48)}` }, 'INVALID_EVENT'],
    ['an aggregateType starting with a digit', { aggregateType: '1abc' }, 'INVALID_EVENT'],
    ['no aggregateId', { aggregateId: undefined }, 'INVALID_EVENT'],
    ['an empty aggregateId', { aggregateId: '' }, 'INVALID_EVENT'],
    ['an aggregateId of 513 chars', { aggregateId: 'i'.repeat(513) }, 'INVALID_EVENT'],
    ['an aggregateId with NUL', { aggregateId: 'a\u0000' }, 'INVALID_EVENT'],
    ['a numeric aggregateId', { aggregateId: 42 }, 'INVALID_EVENT'],
    ['no version', { version: undefined }, 'INVALID_EVENT'],
    ['version 0', { version: 0 }, 'INVALID_EVENT'],
    ['version -1', { version: -1 }, 'INVALID_EVENT'],
    ['version 1.5', { version: 1.5 }, 'INVALID_EVENT'],
    ['version 2^31', { version: 2 ** 31 }, 'INVALID_EVENT'],
    ['version as a string', { version: '1' }, 'INVALID_EVENT'],
    ['an empty eventType', { eventType: '' }, 'INVALID_EVENT'],
    ['an eventType of 101 chars', { eventType: 'e'.repeat(101) }, 'INVALID_EVENT'],
    ['an eventId that is not a UUID', { eventId: 'not-a-uuid' }, 'INVALID_EVENT'],
    ['no payload', { payload: undefined }, 'INVALID_EVENT'],
    ['extra payload fields', { payload: { metadata: {}, extra: 1 } }, 'INVALID_EVENT'],
    ['an unknown field', { aggregateTyp: 'x' }, 'INVALID_EVENT'],
    ['no metadata', { payload: {} }, 'INVALID_METADATA'],
    ['metadata with a $ key', { payload: { metadata: { $inc: 1 } } }, 'INVALID_METADATA'],
    ['metadata too large', { payload: { metadata: { s: 'x'.repeat(MAX_METADATA_BYTES) } } }, 'INVALID_METADATA'],
  ])('refuses an event with %s', async (_label, patch, code) => {
    await expectRefusedWithoutTrace(t().pool, code, () => t().drizzle.transaction((tx) => enqueue(tx, event(patch))));
  });

  it('stores awkward aggregate ids verbatim', async () => {
    const aggregateId = "it's \"quoted\"; DROP TABLE outbox; --\n🌍";
    const row = await t().drizzle.transaction((tx) => enqueue(tx, event({ aggregateId, aggregateType: 'weird_type_2' })));
    const { rows } = await t().pool.query('SELECT aggregate_id, aggregate_type FROM outbox WHERE id = $1', [row.id]);
    expect(rows[0]).toEqual({ aggregate_id: aggregateId, aggregate_type: 'weird_type_2' });
  });
});
