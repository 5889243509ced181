import { describe, expect, it } from 'vitest';
import { pruneDelivered } from '../../src/outbox/pruneDelivered.ts';
import { createRelay } from '../../src/relay/relay.ts';
import { outboxCounts } from '../helpers/outboxFixtures.ts';
import { projectionDiffers, seedLedger } from '../helpers/rebuildFixtures.ts';
import { testRelayConfig } from '../helpers/relayConfig.ts';
import { spawnCli } from '../helpers/relayProcess.ts';
import { useTestDatabases } from '../helpers/testDatabases.ts';
import { waitFor } from '../helpers/waitFor.ts';

const t = useTestDatabases();

async function cli(args: string[]): Promise<{ code: number | null; out: string; lines: Record<string, unknown>[] }> {
  const proc = spawnCli(args, { DATABASE_URL: t().databaseUrl, MONGO_URL: t().mongoUrl, MONGO_DB: t().mongoDbName, OUTBOX_RELAY_LOG_LEVEL: 'warn' });
  const { code } = await proc.exited;
  return { code, out: proc.output(), lines: jsonLines(proc.output()) };
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').filter((l) => l.startsWith('{"event"')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function deliverAll(): Promise<void> {
  const relay = createRelay(testRelayConfig(t(), { batchSize: 500 }));
  await relay.start();
  try {
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 120_000, message: 'outbox drained' });
  } finally {
    await relay.stop();
  }
}

async function loseMongo(): Promise<void> {
  await pruneDelivered(t().db, { retentionMs: 0 });
  expect((await outboxCounts(t().pool)).delivered).toBe(0);
  await t().mongoDb.collection('transaction_metadata').drop();
  await t().mongoDb.collection('operation_metadata').drop();
}

describe('outbox-relay rebuild (the CLI, as a process)', () => {
  it('disaster drill: 1,000 postings with operation metadata and updates, delivered, pruned at retention 0, both collections dropped → rebuild restores every document at its version and content, and reconcile exits 0', async () => {
    const ledger = await seedLedger(t(), { count: 1000, tag: 'drill' });
    await deliverAll();
    expect(await projectionDiffers(t())).toEqual([]);
    await loseMongo();
    expect((await projectionDiffers(t())).length).toBe(2000);

    const rebuilt = await cli(['rebuild', '--json', '--batch-size', '250']);
    expect(rebuilt.code, rebuilt.out).toBe(0);
    const done = rebuilt.lines.at(-1)!;
    expect(done).toMatchObject({ event: 'done', status: 'complete', done: 2000, total: 2000, written: 2000, handedToRelays: 0, failed: 0, notRebuildable: 0 });
    expect(rebuilt.lines.filter((l) => l.event === 'progress').length).toBeGreaterThanOrEqual(8);
    expect(await projectionDiffers(t())).toEqual([]);
    const doc = await t().mongoDb.collection('transaction_metadata').findOne({ _id: ledger.transactionIds[0] as never });
    expect(doc).toMatchObject({ version: 3, metadata: { invoice: 'INV-0', paid: true, refunded: 0 } });
    // The rebuild's own outbox rows went the relays' way: delivered, nothing left pending.
    expect((await outboxCounts(t().pool)).pending).toBe(0);

    const reconciled = await cli(['reconcile']);
    expect(reconciled.code, reconciled.out).toBe(0);
    // A finished run is not resumed: the same command starts (and finishes) a new one.
    const again = await cli(['rebuild', '--json', '--type', 'operation', '--batch-size', '1000']);
    expect(again.code).toBe(0);
    expect(again.lines.at(-1)).toMatchObject({ status: 'complete', done: 1000, resumedAt: 0 });
  });

  it('killed with SIGKILL half-way, then run again: resumes from the watermark and writes only what was not done', async () => {
    await t().pool.query('TRUNCATE outbox, outbox_delivered, rebuild_run');
    await loseMongo().catch(() => {});
    const total = Number((await t().pool.query(`SELECT (SELECT count(*) FROM "transaction" WHERE metadata_version > 0) + (SELECT count(*) FROM operation WHERE metadata_version > 0) AS n`)).rows[0].n);
    expect(total).toBe(2000);
    const env = { DATABASE_URL: t().databaseUrl, MONGO_URL: t().mongoUrl, MONGO_DB: t().mongoDbName, OUTBOX_RELAY_LOG_LEVEL: 'warn' };
    const first = spawnCli(['rebuild', '--json', '--batch-size', '100', '--rate', '150'], env);
    const doneAt = async () => Number((await t().pool.query('SELECT coalesce(max(done), 0) AS d FROM rebuild_run WHERE finished_at IS NULL')).rows[0].d);
    await waitFor(async () => (await doneAt()) >= 500, { timeoutMs: 60_000, intervalMs: 20, message: 'first rebuild half-way' });
    first.child.kill('SIGKILL');
    await first.exited;
    const watermark = await doneAt();
    expect(watermark).toBeGreaterThanOrEqual(500);
    expect(watermark).toBeLessThan(total);

    const second = await cli(['rebuild', '--json', '--batch-size', '100']);
    expect(second.code, second.out).toBe(0);
    const done = second.lines.at(-1)!;
    // Only the entities past the watermark are written again: the finished ranges are not redone.
    expect(done).toMatchObject({ status: 'complete', resumedAt: watermark, done: total, written: total - watermark, handedToRelays: 0, failed: 0 });
    expect(second.lines[0]).toMatchObject({ event: 'progress', done: watermark, resumedAt: watermark });
    expect(await projectionDiffers(t())).toEqual([]);
    // The batch the killed process held is delivered by its successor (same run, same claimer): nothing left pending.
    expect((await outboxCounts(t().pool)).pending).toBe(0);
  });

  it('bad usage exits 2 with a message and writes nothing', async () => {
    const runs = Number((await t().pool.query('SELECT count(*) AS n FROM rebuild_run')).rows[0].n);
    for (const args of [['--rate', '0'], ['--batch-size', 'many'], ['--since', 'yesterday'], ['--type', 'Not A Type'], ['--ids-from', '/no/such/file']]) {
      const result = await cli(['rebuild', ...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.out).toMatch(/outbox-relay: /);
    }
    expect(Number((await t().pool.query('SELECT count(*) AS n FROM rebuild_run')).rows[0].n)).toBe(runs);
    const ahead = await cli(['reconcile', '--repair-ahead']);
    expect(ahead.code).toBe(2);
    expect(ahead.out).toMatch(/--repair-ahead needs --repair/);
  });
});
