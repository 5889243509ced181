/**
 * PostgreSQL going away under a draining relay, two ways, without touching
 * the shared server: every connection of the relay (pool and listener) runs
 * through a TCP proxy that is cut for a few seconds; or each of the relay's
 * backends is terminated (pg_terminate_backend) again and again for a few
 * seconds. Either way the relay must pause, resume by itself, heartbeat
 * again, lose nothing and spend no event's attempts on it.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcpProxy.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
const EVENTS = 2000;
let relay: Relay | undefined;
let proxy: TcpProxy | undefined;

afterEach(async () => {
  await proxy?.restore().catch(() => {}); // a relay stopping behind a cut proxy would wait on it
  await relay?.stop();
  await proxy?.close();
  relay = undefined;
  proxy = undefined;
});

/**
 * The relay's warnings, as parsed pino lines. A message counts with what the
 * drainer appends after a colon (`claim failed: PostgreSQL unavailable or
 * read-only; …` when classifyPgError calls the error a reconnect).
 */
function captureWarnings(): { logger: pino.Logger; count(message: string): number } {
  const lines: { msg: string }[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
  return { logger, count: (message) => lines.filter((l) => l.msg === message || l.msg.startsWith(`${message}: `)).length };
}

async function loadBacklog(prefix: string): Promise<void> {
  await t().pool.query('TRUNCATE outbox, outbox_delivered');
  await insertEvents(t().pool, Array.from({ length: EVENTS }, (_, i) => ({ aggregateId: `${prefix}-${i}`, version: 1, metadata: { i } })));
}

const dbNow = async (): Promise<Date> => (await t().pool.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now;

async function readyz(running: Relay): Promise<{ checks: Record<string, boolean> }> {
  return (await (await fetch(`${running.opsUrl}/readyz`)).json()) as { checks: Record<string, boolean> };
}

/** After the outage: everything delivered once, nothing dead or held, no attempt spent, heartbeats after `back`. */
async function expectRecovered(running: Relay, prefix: string, back: Date): Promise<void> {
  await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 90_000, message: 'drain after PostgreSQL came back' });
  await waitFor(
    async () => (await t().pool.query(`SELECT 1 FROM outbox_relay WHERE id = $1 AND heartbeat_at > $2`, [running.id, back])).rowCount === 1,
    { message: 'a heartbeat after PostgreSQL came back' },
  );
  await waitFor(async () => (await readyz(running)).checks.postgres === true, { message: '/readyz reporting PostgreSQL again' });
  expect(await outboxCounts(t().pool)).toEqual({ pending: 0, dead: 0, delivered: EVENTS, claimed: 0 });
  expect(await t().mongoDb.collection('transaction_metadata').countDocuments({ _id: { $regex: `^${prefix}-` } as never })).toBe(EVENTS);
  // Attempts count an event's own failures; an outage of the relay's database is not one.
  const { rows } = await t().pool.query<{ max: number; errors: number }>('SELECT max(attempts)::int AS max, count(last_error)::int AS errors FROM outbox_delivered');
  expect(rows[0]).toEqual({ max: 0, errors: 0 });
}

describe('PostgreSQL unreachable mid-drain', () => {
  it('cut off for a few seconds (every connection through a cut proxy): pauses, resumes by itself, heartbeats again, nothing lost, no attempts spent', async () => {
    await loadBacklog('cut');
    const target = new URL(t().databaseUrl);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(t().databaseUrl);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const warnings = captureWarnings();
    relay = createRelay(
      testRelayConfig(t(), { databaseUrl: viaProxy.toString(), relayId: 'pg-cut-relay', batchSize: 50, heartbeatMs: 300, opsPort: 0 }),
      { logger: warnings.logger },
    );
    await relay.start();
    await waitFor(async () => (await outboxCounts(t().pool)).delivered > 0, { intervalMs: 5, message: 'a first delivery' });

    await proxy.cut();
    const cutCounts = await outboxCounts(t().pool);
    expect(cutCounts.pending, 'the cut came mid-drain').toBeGreaterThan(0);
    // Held until the relay has met the outage on every path: ten failed heartbeats (about 3 s) and a failed claim or batch.
    await waitFor(() => warnings.count('heartbeat failed') >= 10 && warnings.count('claim failed') + warnings.count('delivering a batch failed') > 0, {
      timeoutMs: 60_000,
      message: 'the relay failing against the cut PostgreSQL',
    });
    expect((await readyz(relay)).checks.postgres).toBe(false);
    // Nothing moved while it was cut off, beyond a statement already committed when the proxy dropped it.
    const during = await outboxCounts(t().pool);
    expect(during.dead).toBe(0);

    await proxy.restore();
    const back = await dbNow();
    await expectRecovered(relay, 'cut', back);
  }, 180_000);

  it('every relay connection terminated again and again for a few seconds: pauses, resumes by itself, heartbeats again, nothing lost, no attempts spent', async () => {
    await loadBacklog('terminated');
    const warnings = captureWarnings();
    relay = createRelay(testRelayConfig(t(), { relayId: 'pg-terminated-relay', batchSize: 50, heartbeatMs: 300, opsPort: 0 }), { logger: warnings.logger });
    await relay.start();
    await waitFor(async () => (await outboxCounts(t().pool)).delivered > 0, { intervalMs: 5, message: 'a first delivery' });

    // The pool's and the listener's backends (application names outbox-relay:<id>, outbox-relay-listen:<id>).
    const started = await dbNow();
    let terminated = 0;
    let rounds = 0;
    for (;;) {
      const { rows } = await t().pool.query<{ n: number; past: boolean }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n, clock_timestamp() > $2::timestamptz + interval '3 seconds' AS past
           FROM pg_stat_activity
          WHERE datname = current_database() AND application_name IN ('outbox-relay:' || $1, 'outbox-relay-listen:' || $1)`,
        [relay.id, started],
      );
      terminated += rows[0]!.n;
      rounds++;
      if (rounds === 1) expect((await outboxCounts(t().pool)).pending, 'the first termination came mid-drain').toBeGreaterThan(0);
      if (rows[0]!.past && rounds >= 20) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // It kept reconnecting, and kept being cut off.
    expect(terminated).toBeGreaterThanOrEqual(5);
    expect(warnings.count('heartbeat failed') + warnings.count('claim failed') + warnings.count('delivering a batch failed')).toBeGreaterThan(0);
    const back = await dbNow();
    await expectRecovered(relay, 'terminated', back);
  }, 180_000);
});
