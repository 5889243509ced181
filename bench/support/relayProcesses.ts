/** Relays as separate processes (`node src/cli.ts run`), as in production. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sleep } from './stats.ts';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

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
}

export async function startRelay(settings: RelaySettings, timeoutMs = 30_000): Promise<RelayChild> {
  const child = spawn(process.execPath, [CLI, 'run', ...(settings.args ?? [])], {
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
