import { beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../src/logger.ts';
import { readLogLag } from '../../../../src/outbox/log/readLogLag.ts';
import { redriveParked } from '../../../../src/outbox/log/redriveParked.ts';
import { SlotDrainer, type SlotDrainerSettings } from '../../../../src/relay/slotDrainer.ts';
import { createMongoSink } from '../../../../src/sink/mongoSink.ts';
import { useTestDatabases } from '../../../helpers/testDatabases.ts';
import { appendCommitted, entitiesInOneSlot, logRow, resetLog } from './logFixtures.ts';

const t = useTestDatabases();

const settings = (overrides: Partial<SlotDrainerSettings> = {}): SlotDrainerSettings => ({
  owner: 'relay-d',
  batchSize: 50,
  concurrency: 2,
  leaseMs: 30_000,
  budget: { maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 5 },
  ...overrides,
});

beforeEach(async () => {
  await resetLog(t().pool);
  await t().mongoDb.collection('transaction_metadata').deleteMany({});
});

function drainer(paused: string[] = [], overrides: Partial<SlotDrainerSettings> = {}) {
  const sink = createMongoSink(t().mongoDb, { retries: 0 });
  return new SlotDrainer({ db: t().db, sink, logger: silentLogger, pausedTypes: () => paused }, settings(overrides));
}

const docs = () => t().mongoDb.collection<{ _id: string; version: number; metadata: Record<string, unknown> }>('transaction_metadata');

describe('SlotDrainer', () => {
  it('delivers every row of the log to MongoDB and leaves nothing pending, writing no row per event', async () => {
    const d = drainer();
    await d.rebalance();
    expect(d.slots()).toHaveLength(128);
    await appendCommitted(t().pool, Array.from({ length: 120 }, (_, i) => logRow(`e-${i % 40}`, Math.floor(i / 40) + 1)));
    const round = await d.drain();
    expect(round).toMatchObject({ delivered: 120, setAside: 0, dropped: 0 });
    expect(await docs().countDocuments()).toBe(40);
    expect((await docs().findOne({ _id: 'e-7' }))?.version).toBe(3);
    const lag = await readLogLag(t().db);
    expect(lag.pending).toBe(0);
    const { rows } = await t().pool.query<{ n: string }>('SELECT count(*) AS n FROM outbox_log');
    expect(Number(rows[0]!.n)).toBe(120); // the log is kept; delivered means "behind the position"
  });

  it('parks a poison entity, keeps its slot moving past it, and replays its versions in order on redrive', async () => {
    const { ids } = await entitiesInOneSlot(t().pool, 'poison-', 3);
    const [poison, before, after] = ids as [string, string, string];
    await appendCommitted(t().pool, [logRow(before), logRow(poison, 1, 'transaction', { payload: { metadata: { $where: 'evil' } } })]);
    await appendCommitted(t().pool, [logRow(poison, 2, 'transaction', { payload: { metadata: { $where: 'still evil' } } }), logRow(after)]);
    const d = drainer([], { budget: { maxAttempts: 1, backoffBaseMs: 1, backoffMaxMs: 1 } });
    await d.rebalance();
    await d.drain();
    expect(await docs().findOne({ _id: before })).not.toBeNull();
    expect(await docs().findOne({ _id: after })).not.toBeNull();
    expect(await docs().findOne({ _id: poison })).toBeNull();
    const { rows: parked } = await t().pool.query('SELECT reason, from_version, attempts, last_error, retry_at FROM outbox_parked WHERE aggregate_id = $1', [poison]);
    expect(parked).toEqual([{ reason: 'failed', from_version: 1, attempts: 1, last_error: expect.stringMatching(/\$where|field/i), retry_at: null }]);
    expect((await readLogLag(t().db)).pending).toBe(0);
    // Fixed at the source, then redriven: both versions replay, in order.
    await t().pool.query(`UPDATE outbox_set_aside SET payload = jsonb_build_object('metadata', jsonb_build_object('fixed', version)) WHERE aggregate_id = $1`, [poison]);
    expect(await redriveParked(t().db, { entities: [{ aggregateType: 'transaction', aggregateId: poison }] })).toEqual({ entities: 1, events: 2 });
    const { rows: replayed } = await t().pool.query<{ version: number }>('SELECT version FROM outbox_log WHERE aggregate_id = $1 ORDER BY id', [poison]);
    expect(replayed.map((r) => r.version)).toEqual([1, 2, 1, 2]);
    await d.drain();
    expect(await docs().findOne({ _id: poison })).toMatchObject({ version: 2, metadata: { fixed: 2 } });
  });

  it('retries a failing entity on its own with backoff until the budget is spent', async () => {
    await appendCommitted(t().pool, [logRow('flaky', 1, 'transaction', { payload: { metadata: { $where: 'x' } } })]);
    const d = drainer([], { budget: { maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 1 } });
    await d.rebalance();
    for (let i = 0; i < 4; i++) {
      await d.drain();
      await new Promise((resolve) => setTimeout(resolve, 20));
      await redriveParked(t().db, { due: true });
    }
    const { rows } = await t().pool.query('SELECT attempts, retry_at FROM outbox_parked WHERE aggregate_id = $1', [ 'flaky']);
    expect(rows).toEqual([{ attempts: 3, retry_at: null }]);
  });

  it('sets a paused type aside and replays it in order at resume, while other types flow', async () => {
    const paused = ['operation'];
    const d = drainer(paused);
    await d.rebalance();
    await appendCommitted(t().pool, [logRow('op-a', 1, 'operation'), logRow('tx-a', 1)]);
    await appendCommitted(t().pool, [logRow('op-a', 2, 'operation')]);
    await d.drain();
    expect(await docs().findOne({ _id: 'tx-a' })).not.toBeNull();
    const ops = t().mongoDb.collection('operation_metadata');
    expect(await ops.findOne({ _id: 'op-a' as never })).toBeNull();
    expect(await redriveParked(t().db, { aggregateType: 'operation', reason: 'paused' })).toEqual({ entities: 1, events: 2 });
    paused.length = 0;
    await d.drain();
    expect(await ops.findOne({ _id: 'op-a' as never })).toMatchObject({ version: 2 });
  });
});
