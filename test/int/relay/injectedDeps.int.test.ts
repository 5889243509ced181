import { afterEach, describe, expect, it } from 'vitest';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import type { ApplyResult, EventOutcome, MetadataSink, SinkEvent } from '../../../src/sink/metadataSink.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

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
});
