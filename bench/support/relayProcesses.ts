/**
 * Relays as separate processes, as in production: the built package's
 * `dist/cli.js run` when OUTBOX_RELAY_BENCH_DIST=1 (scripts/bench.sh builds it
 * first), else `src/cli.ts run` (the bench harness test, which does not build).
 * Node's type stripper, which a .ts entry loads, costs about 25 MiB of RSS
 * that a deployed relay does not pay, so RSS figures come from dist/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sleep } from './stats.ts';

export const RUNS_BUILT_PACKAGE = process.env.OUTBOX_RELAY_BENCH_DIST === '1';
const CLI = fileURLToPath(new URL(RUNS_BUILT_PACKAGE ? '../../dist/cli.js' : '../../src/cli.ts', import.meta.url));
/**
 * The V8 settings relays are deployed with: the Dockerfile's NODE_OPTIONS
 * (test/unit/relayNodeOptions.unit.test.ts keeps the two equal). The bench's
 * relays run with them unless a scenario asks for Node's defaults.
 */
export const DEPLOYED_NODE_OPTIONS = '--max-semi-space-size=4 --max-old-space-size=96';
/** The relay with a sink that acknowledges at once (the null-sink scenario). */
export const NULL_SINK_RELAY = fileURLToPath(new URL('./nullSinkRelay.mjs', import.meta.url));

export interface RelayChild {
  pid: number;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export interface RelaySettings {
  databaseUrl: string;
  mongoUrl: string;
  mongoDb: string;
  batchSize?: number;
  concurrency?: number;
  listen?: boolean;
  pollIntervalMs?: number;
  id: string;
  /** More environment (e.g. OTEL_* for the tracing scenario). */
  env?: Record<string, string>;
  /** More arguments after `run` (e.g. --multi-tenant). */
  args?: string[];
  /**
   * Run this script instead of the CLI's `run` (same environment): the
   * null-sink scenario's bench/support/nullSinkRelay.ts.
   */
  script?: string;
  /** NODE_OPTIONS for the relay process (default: DEPLOYED_NODE_OPTIONS; '' for Node's defaults). */
  nodeOptions?: string;
}

export async function startRelay(settings: RelaySettings, timeoutMs = 30_000): Promise<RelayChild> {
  const argv = settings.script ? [settings.script, ...(settings.args ?? [])] : [CLI, 'run', ...(settings.args ?? [])];
  const child = spawn(process.execPath, argv, {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATABASE_URL: settings.databaseUrl,
      MONGO_URL: settings.mongoUrl,
      MONGO_DB: settings.mongoDb,
      OUTBOX_RELAY_ID: settings.id,
      OUTBOX_RELAY_OPS_PORT: 'off',
      OUTBOX_RELAY_BATCH_SIZE: String(settings.batchSize ?? 500),
      OUTBOX_RELAY_CONCURRENCY: String(settings.concurrency ?? 2),
      OUTBOX_RELAY_LISTEN: String(settings.listen ?? true),
      OUTBOX_RELAY_POLL_INTERVAL_MS: String(settings.pollIntervalMs ?? 1000),
      OUTBOX_RELAY_LOG_FORMAT: 'json',
      OUTBOX_RELAY_LOG_LEVEL: 'info',
      ...(RUNS_BUILT_PACKAGE ? { OUTBOX_RELAY_BENCH_DIST: '1' } : {}),
      NODE_OPTIONS: settings.nodeOptions ?? DEPLOYED_NODE_OPTIONS,
      ...settings.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const keep = (chunk: Buffer) => {
    text += chunk.toString();
    if (text.length > 200_000) text = text.slice(-100_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + timeoutMs;
  while (!text.includes('"relay started"')) {
    if (child.exitCode !== null) throw new Error(`relay exited early (${child.exitCode}):\n${text.slice(-2000)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`relay did not start within ${timeoutMs} ms:\n${text.slice(-2000)}`);
    }
    await sleep(25);
  }
  return {
    pid: child.pid as number,
    child,
    output: () => text,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
