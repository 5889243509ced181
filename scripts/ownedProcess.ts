/**
 * A server process our scripts own: PgBouncer (pgbouncer.ts), a throwaway
 * PostgreSQL (ownPostgres.ts), FerretDB (services.ts, bench/chaos/mongoServer.ts).
 * One lifecycle for all of them:
 *
 * - start: spawn with stdout and stderr appended to a log file, then poll a
 *   readiness check (the port answers, a ping works) until it passes. If the
 *   process exits first or the time runs out, it is killed and the error
 *   carries why: the exit, the last check's answer and the last lines of
 *   its output, which is where "address already in use" shows.
 * - stop: a signal (SIGTERM unless the server wants another: PostgreSQL's
 *   fast shutdown is SIGINT), SIGKILL after a grace; resolves once it is gone.
 * - an owner that exits without stop() (a crash, a test run that dies) does
 *   not leave it running, unless it was started detached on purpose
 *   (`npm run services` keeps its servers between runs).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

export class OwnedProcessStartError extends Error {
  readonly code = 'SERVICES_UNAVAILABLE';
  override readonly name = 'OwnedProcessStartError';
  /** How it exited before answering ("code 1", "signal SIGKILL"); undefined when it timed out. */
  readonly exit: string | undefined;
  /** The readiness check's last answer. */
  readonly lastCheck: string;
  /** The last lines of its output (log file and the extra files), ' | '-joined. */
  readonly output: string;
  constructor(name: string, details: { exit: string | undefined; lastCheck: string; output: string; timeoutMs: number }) {
    super(`${name} did not answer (${details.exit ? `exited: ${details.exit}` : `timed out after ${details.timeoutMs / 1000} s`}; ${details.lastCheck})${details.output ? `; last output: ${details.output}` : ''}`);
    this.exit = details.exit;
    this.lastCheck = details.lastCheck;
    this.output = details.output;
  }
}

export interface OwnedProcessOptions {
  /** For messages: "PgBouncer", "FerretDB". */
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr are appended here. */
  logFile: string;
  /** More files whose last lines explain a failed start (a server's own log file). */
  alsoTail?: readonly string[];
  /** Lines of each file quoted in a start error; default 3. */
  tailLines?: number;
  /** Outlive this Node process: detached, unreferenced, not killed when it exits. */
  detached?: boolean;
  /** Called right after the spawn, before readiness (a PID file). */
  onSpawned?: (pid: number) => void;
  /** Called once it has exited, however ("code 1", "signal SIGTERM"): a marker in a shared log. */
  onExit?: (how: string, pid: number) => void;
  /** stop()'s first signal; default SIGTERM. */
  stopSignal?: NodeJS.Signals;
  /** SIGKILL this long after the first signal; default 5000 ms. */
  stopGraceMs?: number;
  /** Sent if this Node process exits while the server still runs; default SIGKILL. */
  exitSignal?: NodeJS.Signals;
}

export interface Readiness {
  /** undefined once it is ready, else why not (quoted when the wait fails). */
  check: () => Promise<string | undefined>;
  timeoutMs: number;
  /** Between checks; default 50 ms. */
  intervalMs?: number;
}

export interface OwnedProcess {
  readonly pid: number;
  /** Resolves once the process has exited, with how ("code 0", "signal SIGTERM"). */
  readonly exited: Promise<string>;
  running(): boolean;
  /** The stop signal, SIGKILL after the grace; resolves once it is gone. Idempotent. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Spawn the server and wait until `ready` passes; on failure it is killed and an OwnedProcessStartError says why. */
export async function startOwnedProcess(options: OwnedProcessOptions, ready: Readiness): Promise<OwnedProcess> {
  const owned = spawnOwnedProcess(options);
  const deadline = Date.now() + ready.timeoutMs;
  let lastCheck = 'not started';
  while (owned.running()) {
    const why = await ready.check().catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
    if (why === undefined) return owned;
    lastCheck = why;
    if (Date.now() >= deadline) break;
    await sleep(ready.intervalMs ?? 50);
  }
  const exit = owned.running() ? undefined : await owned.exited;
  if (exit === undefined) {
    process.kill(owned.pid, 'SIGKILL');
    await owned.exited;
  }
  throw new OwnedProcessStartError(options.name, { exit, lastCheck, output: lastOutput([options.logFile, ...(options.alsoTail ?? [])], options.tailLines ?? 3), timeoutMs: ready.timeoutMs });
}

/** Spawn without waiting (startOwnedProcess waits too). */
export function spawnOwnedProcess(options: OwnedProcessOptions): OwnedProcess {
  const out = openSync(options.logFile, 'a');
  const child = spawn(options.command, [...options.args], {
    detached: options.detached === true,
    stdio: ['ignore', out, out],
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  closeSync(out);
  let exit: string | undefined;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = signal ? `signal ${signal}` : `code ${code}`;
      resolve(exit);
    });
    // A command that cannot run at all (ENOENT, EACCES): no 'exit' follows.
    child.once('error', (error) => {
      exit ??= error.message;
      resolve(exit);
    });
  });
  const pid = child.pid ?? -1;
  if (options.onExit) void exited.then((how) => options.onExit?.(how, pid));
  const running = () => exit === undefined && pid > 0;
  const killAtExit = () => {
    if (running()) child.kill(options.exitSignal ?? 'SIGKILL');
  };
  if (options.detached) child.unref();
  else process.once('exit', killAtExit);
  if (pid > 0) options.onSpawned?.(pid);
  let stopping: Promise<void> | undefined;
  return {
    pid,
    exited,
    running,
    stop: () =>
      (stopping ??= (async () => {
        process.removeListener('exit', killAtExit);
        if (!running()) return;
        child.kill(options.stopSignal ?? 'SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), options.stopGraceMs ?? 5000);
        await exited;
        clearTimeout(timer);
      })()),
  };
}

/** Whether `pid` runs. A zombie (exited, not yet reaped by its new parent) does not. */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch (error) {
    // No /proc (macOS): the signal test is all there is; gone meanwhile: not running.
    return (error as { code?: string }).code !== 'ENOENT' || !existsSync('/proc/self');
  }
}

/**
 * Stop a server we started in an earlier run, known only by its PID (a PID
 * file; the caller has checked it is still ours): the signal, SIGKILL after
 * the grace, then wait until it is gone.
 */
export async function stopOwnedPid(pid: number, options: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<void> {
  try {
    process.kill(pid, options.signal ?? 'SIGTERM');
  } catch {
    return; // already gone
  }
  const deadline = Date.now() + (options.graceMs ?? 5000);
  while (processRunning(pid) && Date.now() < deadline) await sleep(50);
  if (!processRunning(pid)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  // SIGKILL cannot be ignored; the wait is bounded all the same.
  const killed = Date.now() + 2000;
  while (processRunning(pid) && Date.now() < killed) await sleep(20);
}

/** The last `lines` lines of each file that exists, ' | '-joined. */
export function lastOutput(files: readonly string[], lines = 3): string {
  return files
    .filter((file) => existsSync(file))
    .map((file) => readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join(' | '))
    .filter(Boolean)
    .join(' | ');
}

/** A port free right now on 127.0.0.1 (the server binds it next; a lost race shows as "address already in use"). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on host:port within the timeout. */
export function portAccepts(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
