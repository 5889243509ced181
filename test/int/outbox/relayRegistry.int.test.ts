import { beforeEach, describe, expect, it } from 'vitest';
import { readLag } from '../../../src/outbox/readLag.ts';
import { heartbeatRelay, markRelayStopped, registerRelay } from '../../../src/outbox/relayRegistry.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { clearTables } from './outboxRows.ts';

const t = useTestDatabases();

beforeEach(async () => {
  await clearTables(t().pool);
});

describe('relay registry in outbox_lag', () => {
  it('a registered relay is alive and listed; heartbeats add to its delivered count; a stopped one is gone', async () => {
    await registerRelay(t().db, { id: 'relay-a', host: 'host-1', pid: 101 });
    await registerRelay(t().db, { id: 'relay-b', host: 'host-2', pid: 202 });
    let lag = await readLag(t().db);
    expect(lag.relaysAlive).toBe(2);
    expect(lag.relays.map((r) => [r.id, r.host, r.pid, r.delivered_count, r.last_delivered_at])).toEqual([
      ['relay-a', 'host-1', 101, 0, null],
      ['relay-b', 'host-2', 202, 0, null],
    ]);
    expect(lag.lastDeliveredAt).toBeNull();

    const deliveredAt = new Date(Date.now() - 1_000);
    await heartbeatRelay(t().db, { id: 'relay-a', deliveredDelta: 7, lastDeliveredAt: deliveredAt });
    await heartbeatRelay(t().db, { id: 'relay-a', deliveredDelta: 5 });
    lag = await readLag(t().db);
    const a = lag.relays.find((r) => r.id === 'relay-a')!;
    expect(a.delivered_count).toBe(12);
    expect(new Date(a.last_delivered_at!).getTime()).toBe(deliveredAt.getTime());
    expect(lag.lastDeliveredAt?.getTime()).toBe(deliveredAt.getTime());

    // An older delivery time never moves last_delivered_at backwards.
    await heartbeatRelay(t().db, { id: 'relay-a', deliveredDelta: 0, lastDeliveredAt: new Date(deliveredAt.getTime() - 60_000) });
    expect((await readLag(t().db)).lastDeliveredAt?.getTime()).toBe(deliveredAt.getTime());

    await markRelayStopped(t().db, { id: 'relay-b' });
    lag = await readLag(t().db);
    expect(lag.relaysAlive).toBe(1);
    expect(lag.relays.map((r) => r.id)).toEqual(['relay-a']);
  });

  it('a relay whose heartbeat is older than 30 s is not alive; a heartbeat revives it', async () => {
    await registerRelay(t().db, { id: 'relay-a', host: 'h', pid: 1 });
    await t().pool.query(`UPDATE outbox_relay SET heartbeat_at = now() - interval '31 seconds'`);
    expect((await readLag(t().db)).relaysAlive).toBe(0);
    await heartbeatRelay(t().db, { id: 'relay-a', deliveredDelta: 0 });
    expect((await readLag(t().db)).relaysAlive).toBe(1);
  });

  it('registering again (a restart under the same id) revives a stopped relay and keeps its lifetime count', async () => {
    await registerRelay(t().db, { id: 'relay-a', host: 'h', pid: 1 });
    await heartbeatRelay(t().db, { id: 'relay-a', deliveredDelta: 3 });
    await markRelayStopped(t().db, { id: 'relay-a' });
    expect((await readLag(t().db)).relaysAlive).toBe(0);
    await registerRelay(t().db, { id: 'relay-a', host: 'h2', pid: 2 });
    const lag = await readLag(t().db);
    expect(lag.relaysAlive).toBe(1);
    expect(lag.relays.map((r) => [r.host, r.pid, r.delivered_count])).toEqual([['h2', 2, 3]]);
    const { rows } = await t().pool.query(`SELECT stopped_at FROM outbox_relay`);
    expect(rows[0].stopped_at).toBeNull();
  });
});
