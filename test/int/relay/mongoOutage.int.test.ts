import { afterAll, describe, expect, it } from 'vitest';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcpProxy.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
let relay: Relay | undefined;
let proxy: TcpProxy | undefined;
afterAll(async () => {
  await relay?.stop();
  await proxy?.close();
});

describe('MongoDB outage', () => {
  it('marks nothing delivered while MongoDB is unreachable, delivers everything after it returns, and never exits', async () => {
    const target = new URL(t().mongoUrl);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 27017));
    const mongoUrl = `mongodb://127.0.0.1:${proxy.port}/?serverSelectionTimeoutMS=500&connectTimeoutMS=500`;
    relay = createRelay(testRelayConfig(t(), { mongoUrl, batchSize: 100, sinkRetries: 2 }));
    await relay.start();
    await insertEvents(t().pool, Array.from({ length: 500 }, (_, i) => ({ aggregateId: `before-${i}`, version: 1, metadata: { i } })));
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 20_000 });

    await proxy.cut();
    // Nothing was pending, so nothing was in flight: every earlier event is recorded.
    const deliveredAtCut = (await outboxCounts(t().pool)).delivered;
    expect(deliveredAtCut).toBe(500);
    await insertEvents(t().pool, Array.from({ length: 2000 }, (_, i) => ({ aggregateId: `during-${i}`, version: 1, metadata: { i } })));
    // Through three whole rounds of "retry, give up, release, back off", nothing is marked delivered or dead.
    const unavailable = async () => (await relay!.metrics.sinkUnavailable.get()).values[0]?.value ?? 0;
    const deadline = Date.now() + 60_000;
    while ((await unavailable()) < 3) {
      const counts = await outboxCounts(t().pool);
      expect(counts.delivered).toBe(deliveredAtCut);
      expect(counts.dead).toBe(0);
      expect(Date.now(), 'three batches released during the outage within 60 s').toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await outboxCounts(t().pool)).delivered).toBe(deliveredAtCut);

    await proxy.restore();
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 60_000, message: 'drain after MongoDB returned' });
    const counts = await outboxCounts(t().pool);
    expect(counts).toMatchObject({ pending: 0, dead: 0, delivered: 2500 });
    expect(await t().mongoDb.collection('transaction_metadata').countDocuments({ _id: { $regex: '^during-' } as never })).toBe(2000);
    // Attempts are not spent on an outage: it was not the events' fault.
    const { rows } = await t().pool.query('SELECT max(attempts)::int AS max FROM outbox_delivered');
    expect(rows[0].max).toBe(0);
  });
});
