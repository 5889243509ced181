import { describe, expect, it } from 'vitest';
import { readLag } from '../../../src/outbox/readLag.ts';
import { insertEvents } from '../../helpers/outboxFixtures.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { sleep, waitFor } from '../../helpers/waitFor.ts';
import { ALICE, call, startControlRelay, useControlRelayPair } from './controlFixtures.ts';

const t = useTestDatabases();
// Heartbeat 500 ms (testRelayConfig): the pause reaches both relays within it.
const relays = useControlRelayPair(t);

const pendingOf = async (eventIds: string[]) =>
  (await t().pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox WHERE event_id = ANY($1::uuid[]) AND status = 'pending'`, [eventIds])).rows[0]!.n;
const deliveredOf = async (eventIds: string[]) =>
  (await t().pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox_delivered WHERE event_id = ANY($1::uuid[])', [eventIds])).rows[0]!.n;

/** Long enough for several polls of both relays (200 ms each) once both honour the pause. */
const SEVERAL_POLLS_MS = 1500;

describe('pause across two relays', () => {
  it('a fleet pause sent to one relay stops both within a heartbeat; both stay ready and say so; resume through the other restarts delivery', async () => {
    const { a, b } = relays();
    const paused = await call(a.opsUrl, '/api/pause', { token: ALICE, body: { reason: 'MongoDB maintenance' } });
    expect(paused.body).toEqual({ paused: '*', wasPaused: false });
    // The relay that took the request honours it at once, the other on its next heartbeat.
    expect(a.paused().all).toBe(true);
    await waitFor(() => b.paused().all, { message: 'relay b honours the pause' });

    const eventIds = await insertEvents(t().pool, Array.from({ length: 20 }, (_, i) => ({ aggregateId: `paused-${i}`, version: 1, metadata: { i } })));
    a.wake();
    b.wake();
    await sleep(SEVERAL_POLLS_MS);
    expect(await pendingOf(eventIds)).toBe(20);
    expect(await deliveredOf(eventIds)).toBe(0);

    for (const relay of [a, b]) {
      const ready = await call(relay.opsUrl, '/readyz', { token: ALICE });
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ ready: true, paused: { all: true, types: [] } });
      expect((await call(relay.opsUrl, '/metrics', { token: ALICE })).body).toContain('outbox_relay_paused{scope="*"} 1');
    }
    const lag = await readLag(t().db);
    expect(lag.paused).toEqual([{ scope: '*', reason: 'MongoDB maintenance', paused_by: 'alice', paused_at: expect.any(String) }]);

    expect((await call(b.opsUrl, '/api/resume', { token: ALICE, body: { reason: 'maintenance over' } })).body).toEqual({ resumed: '*', wasPaused: true });
    await waitFor(async () => (await deliveredOf(eventIds)) === 20, { message: 'delivered after resume' });
    await waitFor(() => !a.paused().all && !b.paused().all);
    expect((await call(a.opsUrl, '/metrics', { token: ALICE })).body).toContain('outbox_relay_paused{scope="*"} 0');
    expect((await call(a.opsUrl, '/readyz', { token: ALICE })).body.paused).toBeUndefined();
  });

  it('pausing one aggregate type holds only its events; the others keep flowing', async () => {
    const { a, b } = relays();
    await call(b.opsUrl, '/api/pause', { token: ALICE, body: { type: 'operation', reason: 'operation collection reindex' } });
    await waitFor(() => a.paused().types.includes('operation') && b.paused().types.includes('operation'));
    const held = await insertEvents(t().pool, Array.from({ length: 5 }, (_, i) => ({ aggregateType: 'operation', aggregateId: `op-${i}`, version: 1, metadata: { i } })));
    const flowing = await insertEvents(t().pool, Array.from({ length: 5 }, (_, i) => ({ aggregateType: 'transaction', aggregateId: `tx-${i}`, version: 1, metadata: { i } })));
    await waitFor(async () => (await deliveredOf(flowing)) === 5, { message: 'transaction events delivered while operation is paused' });
    await sleep(SEVERAL_POLLS_MS);
    expect(await pendingOf(held)).toBe(5);
    expect((await call(a.opsUrl, '/readyz', { token: ALICE })).body.paused).toEqual({ all: false, types: ['operation'] });
    expect((await call(a.opsUrl, '/metrics', { token: ALICE })).body).toContain('outbox_relay_paused{scope="operation"} 1');

    await call(a.opsUrl, '/api/resume', { token: ALICE, body: { type: 'operation', reason: 'reindex done' } });
    await waitFor(async () => (await deliveredOf(held)) === 5, { message: 'operation events delivered after resume' });
  });

  it('a pause is durable: a relay started while the fleet is paused claims nothing until resumed', async () => {
    const { a, b } = relays();
    await call(a.opsUrl, '/api/pause', { token: ALICE, body: { reason: 'restore in progress' } });
    await waitFor(() => a.paused().all && b.paused().all, { message: 'the running relays honour the pause' });
    const late = await startControlRelay(t());
    try {
      expect(late.paused().all).toBe(true);
      const eventIds = await insertEvents(t().pool, [{ aggregateId: 'late-1', version: 1, metadata: {} }]);
      late.wake();
      await sleep(SEVERAL_POLLS_MS);
      expect(await pendingOf(eventIds)).toBe(1);
      await call(late.opsUrl, '/api/resume', { token: ALICE, body: { reason: 'restore done' } });
      await waitFor(async () => (await deliveredOf(eventIds)) === 1);
    } finally {
      await late.stop();
    }
  });
});
