/**
 * The writer-overhead scenario alone (bench/writerOverhead.ts), for working on
 * the writer's cost without the ten-minute run:
 *
 *   npm run bench -- --writer [--concurrency 8] [--rounds 8] [--window 3] [--tiny]
 *
 * Writes bench/results/writer-<timestamp>.json and prints the figures:
 * postings/s and CPU per posting, outbox on vs off, from the same windows.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openBenchEnv } from './support/benchEnv.ts';
import { writerLines } from './support/markdown.ts';
import { writerOverhead } from './writerOverhead.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { concurrency: { type: 'string' }, rounds: { type: 'string' }, window: { type: 'string' }, tiny: { type: 'boolean' }, out: { type: 'string' } } });
  const databaseUrl = process.env.DATABASE_URL;
  const mongoUrl = process.env.MONGO_URL;
  if (!databaseUrl || !mongoUrl) {
    console.error('bench --writer: DATABASE_URL and MONGO_URL are required (npm run bench sets them)');
    process.exit(2);
  }
  const settings = {
    concurrency: Number(values.concurrency ?? 8),
    rounds: Number(values.rounds ?? (values.tiny ? 1 : 8)),
    windowSeconds: Number(values.window ?? (values.tiny ? 0.5 : 3)),
  };
  const started = new Date();
  const env = await openBenchEnv(databaseUrl, mongoUrl);
  try {
    await env.checkpoint();
    const machine = await env.machine();
    const writer = await writerOverhead(env, settings);
    const result = { startedAt: started.toISOString(), finishedAt: new Date().toISOString(), machine, settings, writer: [writer] };
    const outDir = values.out ?? fileURLToPath(new URL('./results', import.meta.url));
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `writer-${started.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(writerLines([writer]).join('\n'));
    console.log(`\nwrote ${file}`);
  } finally {
    await env.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(`bench --writer: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  });
}
