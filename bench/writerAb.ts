/**
 * Same-run A/B of what the outbox costs the writer, between this checkout and
 * another one (its code imported side by side in this process):
 *
 *   git archive <commit> src bench package.json | tar -x -C /tmp/before
 *   ln -s "$PWD/node_modules" /tmp/before/
 *   DATABASE_URL=… MONGO_URL=… node bench/writerAb.ts --before /tmp/before [--rounds 8] [--seconds 3] [--concurrency 8]
 *
 * Variants, interleaved per round (ABC, CBA, …): the posting without outbox
 * rows (off), with the other tree's postTransaction (before), with this one's
 * (after); NOTIFY trigger on, relays busy (as deployed under load). CPU per
 * posting as in writerOverhead.ts: the pinned writers' PostgreSQL backends plus
 * this process. Prints a table row and the raw figures as JSON.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { cpuUsed, perUnit, pinPool, type CpuPerUnit, type CpuUse } from './support/backendCpu.ts';
import { openBenchEnv } from './support/benchEnv.ts';
import { createAccounts, postOne } from './support/ledgerFixture.ts';
import { median } from './support/stats.ts';

type Variant = 'off' | 'before' | 'after';
const VARIANTS: Variant[] = ['off', 'before', 'after'];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { before: { type: 'string' }, rounds: { type: 'string' }, seconds: { type: 'string' }, concurrency: { type: 'string' } } });
  if (!values.before || !process.env.DATABASE_URL || !process.env.MONGO_URL) {
    console.error('usage: DATABASE_URL=… MONGO_URL=… node bench/writerAb.ts --before <other checkout> [--rounds 8] [--seconds 3] [--concurrency 8]');
    process.exit(2);
  }
  const other = (await import(pathToFileURL(join(values.before, 'bench/support/ledgerFixture.ts')).href)) as { postOne: typeof postOne };
  const concurrency = Number(values.concurrency ?? 8);
  const rounds = Number(values.rounds ?? 8);
  const seconds = Number(values.seconds ?? 3);
  const env = await openBenchEnv(process.env.DATABASE_URL, process.env.MONGO_URL);
  try {
    const scratch = await env.scratch('writerab', 2);
    const accounts = await createAccounts(scratch.pool, 1000);
    await scratch.pool.query('UPDATE outbox_wakeup SET relay_waiting = false');
    await scratch.pool.query('VACUUM ANALYZE');
    const pool = new pg.Pool({ connectionString: scratch.databaseUrl, max: concurrency, idleTimeoutMillis: 0, application_name: 'outbox-relay-bench-writer' });
    pool.on('error', () => {});
    const pinned = await pinPool(pool, concurrency);
    const post = (v: Variant) => (v === 'before' ? other.postOne(pool, accounts, 2, 'b') : postOne(pool, accounts, 2, v === 'after' ? 'a' : 'o', { outbox: v !== 'off' }));
    const cpu: Record<Variant, CpuUse[]> = { off: [], before: [], after: [] };
    const rate: Record<Variant, number[]> = { off: [], before: [], after: [] };
    const window = async (v: Variant, length: number) => {
      await scratch.pool.query('TRUNCATE outbox');
      const start = performance.now();
      const end = start + length * 1000;
      const before = pinned.read();
      let count = 0;
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          await post(v);
          count++;
        }
      }));
      const used = cpuUsed(before, pinned.read(), count);
      if (!used) throw new Error('writer A/B: backend CPU not readable');
      return { used, rate: count / ((performance.now() - start) / 1000) };
    };
    for (const v of VARIANTS) await window(v, seconds / 4); // warm-up
    for (let round = 0; round < rounds; round++) {
      await scratch.pool.query('ANALYZE'); // autovacuum's job, off on the shared test server (see writerOverhead.ts)
      for (const v of round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
        const w = await window(v, seconds);
        cpu[v].push(w.used);
        rate[v].push(w.rate);
      }
    }
    if (!(await pinned.unchanged())) throw new Error('writer A/B: the pool replaced a connection');
    await pool.end();
    const per = Object.fromEntries(VARIANTS.map((v) => [v, perUnit(cpu[v])])) as Record<Variant, CpuPerUnit>;
    const cost = (v: Variant) => `${((per[v].totalUs / per.off.totalUs - 1) * 100).toFixed(1)} %`;
    const show = (c: CpuPerUnit) => `${c.totalUs.toFixed(1)} (${c.backendUs.toFixed(1)} + ${c.clientUs.toFixed(1)})`;
    console.log('| off µs/posting (backend + writer) | before | after | cost before | cost after | after − before | postings/s median off / before / after |');
    console.log(
      `| ${show(per.off)} | ${show(per.before)} | ${show(per.after)} | ${cost('before')} | ${cost('after')} | ${(per.after.totalUs - per.before.totalUs).toFixed(1)} µs (backend ${(per.after.backendUs - per.before.backendUs).toFixed(1)}) | ${VARIANTS.map((v) => median(rate[v]).toFixed(0)).join(' / ')} |`,
    );
    console.log(JSON.stringify({ concurrency, rounds, seconds, perPosting: per, windowsUs: Object.fromEntries(VARIANTS.map((v) => [v, cpu[v].map((w) => Math.round(perUnit([w]).totalUs * 10) / 10)])), rate }));
  } finally {
    await env.close();
  }
}

main().catch((error: unknown) => {
  console.error(`writer A/B: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(1);
});
