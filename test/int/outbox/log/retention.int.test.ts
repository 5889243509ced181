import { beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../src/logger.ts';
import { maintainPartitions } from '../../../../src/outbox/log/maintainPartitions.ts';
import { SlotDrainer } from '../../../../src/relay/slotDrainer.ts';
import type { MetadataSink } from '../../../../src/sink/metadataSink.ts';
import { useTestDatabases } from '../../../helpers/testDatabases.ts';
import { appendCommitted, logRow, resetLog } from './logFixtures.ts';

const t = useTestDatabases();

/** Acknowledges everything: retention is about positions, not MongoDB. */
const nullSink: MetadataSink = {
  prepare: async () => {},
  ping: async () => true,
  apply: async (events) => ({ ok: true, outcomes: new Map(events.map((e) => [e.eventId, { status: 'applied' as const }])) }),
};

const partitions = async () =>
  (await t().pool.query<{ relname: string }>(`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'outbox_log'::regclass AND c.relname <> 'outbox_log_default' ORDER BY 1`)).rows.map(
    (r) => r.relname,
  );
const rowCount = async () => Number((await t().pool.query<{ n: string }>('SELECT count(*) AS n FROM outbox_log')).rows[0]!.n);

beforeEach(async () => {
  await resetLog(t().pool);
  // Small partitions, no retention window: each test watches partitions fill and go.
  for (const name of await partitions()) await t().pool.query(`DROP TABLE ${name}`);
  await t().pool.query(`TRUNCATE outbox_log_partition; ALTER SEQUENCE outbox_log_id_seq RESTART WITH 1; UPDATE outbox_log_settings SET partition_ids = 1000, partitions_ahead = 1, retention = interval '0'`);
  await maintainPartitions(t().db);
});

const drainer = (batchSize = 500) => new SlotDrainer({ db: t().db, sink: nullSink, logger: silentLogger }, { owner: 'relay-r', batchSize, concurrency: 1, leaseMs: 30_000, budget: { maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 1 } });

describe('retention by partitions', () => {
  it('makes partitions ahead of the sequence', async () => {
    expect(await partitions()).toEqual(['outbox_log_p0', 'outbox_log_p1']);
    await appendCommitted(t().pool, Array.from({ length: 1500 }, (_, i) => logRow(`ahead-${i}`)));
    const report = await maintainPartitions(t().db);
    expect(report.created).toEqual(['outbox_log_p2']);
  });

  it('never drops a partition holding an undelivered row, and drops it once every slot has passed it', async () => {
    await appendCommitted(t().pool, Array.from({ length: 2500 }, (_, i) => logRow(`r-${i}`)));
    // p0 and p1 are full, nothing delivered: both are kept.
    expect(await maintainPartitions(t().db)).toMatchObject({ dropped: [], blocked: ['outbox_log_p0', 'outbox_log_p1'] });
    // A slot owner stopped mid-window (one small batch, then gone): still kept.
    const stopped = drainer(50);
    await stopped.rebalance();
    const ac = new AbortController();
    const part = stopped.drain(ac.signal);
    ac.abort();
    await part;
    await stopped.releaseAll();
    expect((await maintainPartitions(t().db)).dropped).toEqual([]);
    expect(await rowCount()).toBe(2500);
    // Everything delivered: the full partitions go. Ids 2000+ outran the partitions
    // made ahead (one, here) and went to the default partition, which is kept.
    const d = drainer();
    await d.rebalance();
    await d.drain();
    const report = await maintainPartitions(t().db);
    expect(report.dropped).toEqual(['outbox_log_p0', 'outbox_log_p1']);
    expect(await partitions()).toEqual(['outbox_log_p3']);
    expect(Number((await t().pool.query<{ n: string }>('SELECT count(*) AS n FROM outbox_log_default')).rows[0]!.n)).toBe(501);
    expect(await rowCount()).toBe(501);
  });

  it('keeps a partition whose rows a stalled slot (no owner) has not passed', async () => {
    await appendCommitted(t().pool, Array.from({ length: 1200 }, (_, i) => logRow(`s-${i}`)));
    const d = drainer();
    await d.rebalance();
    // Every slot but one is drained; that one has no owner.
    const stalled = (await t().pool.query<{ slot: number }>('SELECT slot FROM outbox_log WHERE id < 1000 LIMIT 1')).rows[0]!.slot;
    await t().pool.query('UPDATE outbox_slot SET owner = NULL, lease_until = NULL WHERE slot = $1', [stalled]);
    d.abandon();
    await t().pool.query(`UPDATE outbox_slot SET owner = NULL, lease_until = NULL`);
    const others = drainer();
    await others.rebalance();
    await t().pool.query(`UPDATE outbox_slot SET owner = 'nobody', lease_until = now() + interval '1 hour' WHERE slot = $1`, [stalled]);
    await others.rebalance(); // renewal drops the slot it no longer holds
    await others.drain();
    expect(await maintainPartitions(t().db)).toMatchObject({ dropped: [], blocked: ['outbox_log_p0'] });
  });
});
