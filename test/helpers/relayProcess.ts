/** The relay as a child process (`node src/cli.ts run`), for tests that kill or signal it. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

export interface RelayProcess {
  child: ChildProcess;
  /** Everything the process wrote to stderr/stdout so far. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnCli(args: string[], env: Record<string, string | undefined>): RelayProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, OUTBOX_RELAY_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => text, exited };
}

/** Start `outbox-relay run` and resolve once it logged "relay started". */
export async function startRelayProcess(env: Record<string, string | undefined>, timeoutMs = 20_000, extraArgs: string[] = []): Promise<RelayProcess> {
  const proc = spawnCli(['run', ...extraArgs], { OUTBOX_RELAY_OPS_PORT: 'off', ...env });
  const deadline = Date.now() + timeoutMs;
  while (!proc.output().includes('"relay started"')) {
    if (proc.child.exitCode !== null) throw new Error(`relay exited early (${proc.child.exitCode}):\n${proc.output()}`);
    if (Date.now() > deadline) {
      proc.child.kill('SIGKILL');
      throw new Error(`relay did not start within ${timeoutMs} ms:\n${proc.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return proc;
}
