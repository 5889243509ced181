import { afterEach, describe, expect, it } from 'vitest';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import type { ApplyResult, EventOutcome, MetadataSink, SinkEvent } from '../../../src/sink/metadataSink.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { startTcpProxy } from '../../helpers/tcpProxy.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { sleep, waitFor } from '../../helpers/waitFor.ts';
import { ALICE, call } from '../control/controlFixtures.ts';

const t = useTestDatabases();
let relay: Relay | undefined;
afterEach(async () => {
  await relay?.stop();
  relay = undefined;
});

/** An in-memory sink: what the relay applied, by aggregate id. */
function fakeSink(): MetadataSink & { applied: Map<string, number> } {
  const applied = new Map<string, number>();
  return {
    applied,
    async prepare() {},
    async ping() {
      return true;
    },
    async apply(events: readonly SinkEvent[]): Promise<ApplyResult> {
      const outcomes = new Map<string, EventOutcome>();
      for (const event of events) {
        applied.set(event.aggregateId, Math.max(applied.get(event.aggregateId) ?? 0, event.version));
        outcomes.set(event.eventId, { status: 'applied' });
      }
      return { ok: true, outcomes };
    },
  };
}

describe('createRelay with injected dependencies', () => {
  it('delivers into a sink the caller passes, over the pool the caller passes, and leaves both open', async () => {
    const sink = fakeSink();
    // A MongoDB URL nobody listens on: nothing may connect to it when the sink is injected.
    relay = createRelay(testRelayConfig(t(), { mongoUrl: 'mongodb://127.0.0.1:1' }), { sink, pool: t().pool });
    await relay.start();
    await insertEvents(t().pool, [
      { aggregateId: 'a', version: 1, metadata: { k: 'a' } },
      { aggregateId: 'b', version: 2, metadata: { k: 'b' } },
    ]);
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0);
    expect(Object.fromEntries(sink.applied)).toEqual({ a: 1, b: 2 });
    expect(await t().mongoDb.collection('transaction_metadata').countDocuments()).toBe(0);
    await relay.stop();
    relay = undefined;
    // The caller's pool is still usable after stop().
    expect((await t().pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
  });

  it('with an injected sink and the ops port on, opens no MongoDB connection until POST /api/reconcile asks, then reconciles over it and closes it on stop', async () => {
    // The relay reaches MongoDB only through this proxy: every connection its client opens is counted there.
    const target = new URL(t().mongoUrl);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 27017));
    try {
      relay = createRelay(
        testRelayConfig(t(), { mongoUrl: `mongodb://127.0.0.1:${proxy.port}/`, opsPort: 0, opsTokens: `alice=${ALICE}`, opsRateLimit: 100_000, reconcileEveryMs: 0 }),
        { sink: fakeSink(), pool: t().pool },
      );
      await relay.start();
      const opsUrl = relay.opsUrl as string;
      // Everything the console and probes do, short of running a reconcile, over a couple of heartbeats.
      for (const path of ['/readyz', '/metrics', '/api/lag', '/api/dead', '/api/audit', '/api/reconcile']) {
        expect((await call(opsUrl, path, { token: ALICE })).status, path).toBe(200);
      }
      await sleep(1200);
      expect(proxy.accepted, 'MongoDB connections opened before any reconcile was asked for').toBe(0);

      const started = await call(opsUrl, '/api/reconcile', { token: ALICE, body: { reason: 'lazy client' } });
      expect(started.status).toBe(202);
      const done = await waitFor(async () => {
        const state = (await call(opsUrl, '/api/reconcile', { token: ALICE })).body;
        return state.last?.runId === started.body.runId && !state.running ? state : undefined;
      }, { message: 'reconcile run recorded' });
      expect(done.last).toMatchObject({ ok: true, error: null });
      expect(proxy.accepted, 'the reconcile run read MongoDB through its own client').toBeGreaterThan(0);

      await relay.stop();
      relay = undefined;
      await waitFor(() => proxy.open === 0, { message: 'the lazily opened MongoDB client is closed on stop' });
    } finally {
      await proxy.close();
    }
  });
});
