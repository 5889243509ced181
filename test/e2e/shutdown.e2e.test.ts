/**
 * Shutdown of the relay process when the batch in hand cannot finish: its
 * MongoDB is reached through a proxy that is stalled once the relay is up, so
 * the batch it claims hangs in the sink with its rows claimed. Then:
 * - SIGTERM or SIGINT: the shutdown timeout runs out, the rows are released
 *   (claimable at once, no attempt spent), the relay row is marked stopped, exit 0;
 * - a second signal: exit 1 at once, without waiting for the timeout; the rows
 *   stay claimed until their lease runs out (what the log line says).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { insertEvents } from '../helpers/outboxFixtures.ts';
import { testRelayEnv } from '../helpers/relayConfig.ts';
import { startRelayProcess, type RelayProcess } from '../helpers/relayProcess.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcpProxy.ts';
import { useTestDatabases } from '../helpers/testDatabases.ts';
import { waitFor } from '../helpers/waitFor.ts';

const t = useTestDatabases();
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

interface Held {
  relay: RelayProcess;
  proxy: TcpProxy;
  /** outbox ids of the rows the relay holds on the stalled batch. */
  ids: string[];
}

/** A relay whose batch in hand hangs in the sink. */
async function relayWithBatchInHand(relayId: string, extra: Record<string, string>): Promise<Held> {
  const target = new URL(t().mongoUrl);
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 27017));
  cleanup.push(() => proxy.close());
  const throughProxy = new URL(t().mongoUrl);
  throughProxy.port = String(proxy.port);
  await t().pool.query('DELETE FROM outbox'); // rows an earlier test released are not this relay's business
  const relay = await startRelayProcess(testRelayEnv(t(), { OUTBOX_RELAY_ID: relayId, MONGO_URL: throughProxy.toString(), OUTBOX_RELAY_LEASE_MS: '60000', ...extra }));
  cleanup.push(async () => {
    if (relay.child.exitCode === null && relay.child.signalCode === null) {
      relay.child.kill('SIGKILL');
      await relay.exited;
    }
  });
  proxy.stall();
  await insertEvents(t().pool, Array.from({ length: 30 }, (_, i) => ({ aggregateId: `${relayId}-${i}`, version: 1, metadata: { i } })));
  const held = async () => (await t().pool.query<{ id: string }>(`SELECT id::text FROM outbox WHERE claimed_by = $1 ORDER BY id`, [relayId])).rows.map((r) => r.id);
  const ids = await waitFor(async () => {
    const now = await held();
    return now.length === 30 ? now : undefined;
  }, { timeoutMs: 20_000, message: `${relayId} holds all 30 events` });
  return { relay, proxy, ids };
}

async function rows(ids: string[]): Promise<{ status: string; claimed_by: string | null; attempts: number }[]> {
  return (await t().pool.query(`SELECT status, claimed_by, attempts FROM outbox WHERE id = ANY($1::bigint[]) ORDER BY id`, [ids])).rows;
}

function logLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('shutdown with a batch in hand that cannot finish', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('%s: the timeout runs out, the rows are released unspent, the relay row is stopped, exit 0', async (signal) => {
    const relayId = `stop-${signal.toLowerCase()}`;
    const { relay, ids } = await relayWithBatchInHand(relayId, { OUTBOX_RELAY_SHUTDOWN_TIMEOUT_MS: '1500' });
    const signalledAt = Date.now();
    relay.child.kill(signal);
    const exit = await relay.exited;
    expect(exit, relay.output()).toEqual({ code: 0, signal: null });
    // Shutdown timeout (1.5 s) + the 2 s closing grace + a wide margin for a
    // loaded machine. Before the grace, MongoClient.close() on the hung server
    // held the exit for another 15 s.
    expect(Date.now() - signalledAt).toBeLessThan(1500 + 2000 + 8000);
    const lines = logLines(relay.output());
    expect(lines.find((l) => l.msg === 'shutting down')).toMatchObject({ signal });
    // The log says why: the batch did not finish, and how many rows went back.
    expect(lines.find((l) => l.msg === 'released claimed events at shutdown')).toMatchObject({ finished: false, released: ids.length });
    expect(await rows(ids)).toEqual(ids.map(() => ({ status: 'pending', claimed_by: null, attempts: 0 })));
    const registry = await t().pool.query(`SELECT stopped_at FROM outbox_relay WHERE id = $1`, [relayId]);
    expect(registry.rows[0].stopped_at).not.toBeNull();
  });

  it('a second signal exits at once (status 1), without waiting for the shutdown timeout; the rows stay claimed until their lease runs out', async () => {
    const relayId = 'stop-twice';
    // A shutdown timeout far longer than the test may take: only the second signal can end it.
    const { relay, ids } = await relayWithBatchInHand(relayId, { OUTBOX_RELAY_SHUTDOWN_TIMEOUT_MS: '600000' });
    relay.child.kill('SIGTERM');
    await waitFor(() => relay.output().includes('"relay stopping: no new claims"'), { timeoutMs: 20_000 });
    relay.child.kill('SIGTERM');
    const exit = await relay.exited;
    expect(exit, relay.output()).toEqual({ code: 1, signal: null });
    expect(logLines(relay.output()).find((l) => l.msg === 'second signal: exiting now; claimed rows return when their lease runs out')).toMatchObject({ signal: 'SIGTERM' });
    expect(relay.output()).not.toContain('released claimed events at shutdown');
    expect(await rows(ids)).toEqual(ids.map(() => ({ status: 'pending', claimed_by: relayId, attempts: 0 })));
  });
});
