/**
 * A PgBouncer of our own in front of a PostgreSQL server: Debian's package
 * (installed here when missing: `apt-get update` once, then
 * `apt-get install -y pgbouncer`; root only), run unprivileged (PgBouncer
 * refuses to run as root) on a free loopback port, with its own state
 * directory, `pool_mode = transaction` and a small `default_pool_size`, so
 * server connections really are shared between clients, as in production.
 *
 * Every database name is routed (`* = host=… port=…`): each test file's own
 * database goes through the same PgBouncer. Auth is `trust` with an auth_file
 * naming the users we connect as; it suits a loopback PostgreSQL with trust
 * auth and is not a production setting.
 *
 * Used by `npm run services` (prints `export PGBOUNCER_URL=…`), the test
 * global setup, the chaos run and the benchmarks.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const execFileAsync = promisify(execFile);

export class PgBouncerUnavailableError extends Error {
  readonly code = 'SERVICES_UNAVAILABLE';
  override readonly name = 'PgBouncerUnavailableError';
}

export interface PgBouncerOptions {
  /** The PostgreSQL it pools (host and port; the database comes from each client). */
  target: { host: string; port: number };
  /** `statement` only to show what refuses to work with it (multi-statement transactions). */
  poolMode?: 'transaction' | 'session' | 'statement';
  defaultPoolSize?: number;
  /** Users clients log in as (trust auth still wants them listed). Default: postgres, root and the current user. */
  users?: readonly string[];
  /** State directory (config, pid, log). Default: a fresh one under the temp dir, removed on stop. */
  stateDir?: string;
  /** Keep running after this process exits (`npm run services`). */
  detached?: boolean;
  log?: (line: string) => void;
}

export interface PgBouncer {
  readonly port: number;
  readonly pid: number;
  readonly stateDir: string;
  /** A client URL through this PgBouncer, for `user` and `database`. */
  url(database: string, user?: string): string;
  /** Run an admin console command (SHOW POOLS, RECONNECT, KILL db, RESUME db …). */
  admin(command: string): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

const BINARIES = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer'];

export function pgbouncerBinary(): string | undefined {
  return BINARIES.find((path) => existsSync(path));
}

/** Install Debian's `pgbouncer` when missing (root only); idempotent. Returns the binary path. */
export async function ensurePgBouncerInstalled(log: (line: string) => void = () => {}): Promise<string> {
  const found = pgbouncerBinary();
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new PgBouncerUnavailableError('PgBouncer is not installed and this is not root: install it with `sudo apt-get install -y pgbouncer` (Debian/Ubuntu)');
  }
  log('pgbouncer: installing the Debian package (apt-get update, apt-get install -y pgbouncer)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await execFileAsync('apt-get', ['update'], { env, timeout: 300_000 });
    await execFileAsync('apt-get', ['install', '-y', '--no-install-recommends', 'pgbouncer'], { env, timeout: 600_000 });
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim().split('\n').slice(-2).join(' | ') || String(error);
    throw new PgBouncerUnavailableError(`apt-get install pgbouncer failed: ${detail}`);
  }
  const installed = pgbouncerBinary();
  if (!installed) throw new PgBouncerUnavailableError('apt-get installed pgbouncer but no binary was found in /usr/sbin');
  return installed;
}

/** A port free right now on 127.0.0.1 (the caller binds it next; a lost race is retried by startPgBouncer). */
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

/**
 * The unprivileged account to run servers as when we are root (`postgres`
 * when it exists, else `nobody`); undefined when we are not root (run as
 * ourselves).
 */
export function unprivilegedUser(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      if (Number.isInteger(uid) && uid > 0) return { name, uid, gid };
    } catch {
      // no such user
    }
  }
  throw new PgBouncerUnavailableError('running as root and neither a `postgres` nor a `nobody` user exists to run servers unprivileged');
}

/** Command + args that run `binary args…` as `user` (setpriv execs in place: the PID is the server's). */
export function asUser(user: ReturnType<typeof unprivilegedUser>, binary: string, args: string[]): [string, string[]] {
  if (!user) return [binary, args];
  return ['setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', binary, ...args]];
}

function config(options: Required<Pick<PgBouncerOptions, 'poolMode' | 'defaultPoolSize'>> & { port: number; dir: string; target: { host: string; port: number }; adminUsers: string[] }): string {
  return [
    '[databases]',
    // Any database name: each test file's own database goes through here.
    `* = host=${options.target.host} port=${options.target.port}`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${options.port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${join(options.dir, 'userlist.txt')}`,
    `admin_users = ${options.adminUsers.join(', ')}`,
    `pool_mode = ${options.poolMode}`,
    `default_pool_size = ${options.defaultPoolSize}`,
    'max_client_conn = 1000',
    // Many test databases, each its own pool: no cap across them.
    'max_db_connections = 0',
    // After PostgreSQL restarts, try to log in again after 1 s (default 15 s).
    'server_login_retry = 1',
    'ignore_startup_parameters = extra_float_digits',
    `pidfile = ${join(options.dir, 'pgbouncer.pid')}`,
    `logfile = ${join(options.dir, 'pgbouncer.log')}`,
    'log_connections = 0',
    'log_disconnections = 0',
    '',
  ].join('\n');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Start a PgBouncer; resolves once it answers on its port. */
export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const log = options.log ?? (() => {});
  const binary = await ensurePgBouncerInstalled(log);
  const user = unprivilegedUser();
  const ownsDir = options.stateDir === undefined;
  const dir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'outbox-relay-pgbouncer-'));
  mkdirSync(dir, { recursive: true });
  const users = [...new Set(options.users ?? ['postgres', 'root', userInfo().username])];
  writeFileSync(join(dir, 'userlist.txt'), users.map((u) => `"${u}" ""`).join('\n') + '\n');
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chmodSync(dir, 0o700);
  }
  const poolMode = options.poolMode ?? 'transaction';
  const defaultPoolSize = options.defaultPoolSize ?? 4;
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const ini = join(dir, 'pgbouncer.ini');
    writeFileSync(ini, config({ port, dir, target: options.target, poolMode, defaultPoolSize, adminUsers: users }));
    rmSync(join(dir, 'pgbouncer.pid'), { force: true });
    const logFile = join(dir, 'pgbouncer.log');
    const [command, args] = asUser(user, binary, [ini]);
    const out = openSync(join(dir, 'stderr.log'), 'a');
    const child: ChildProcess = spawn(command, args, { detached: options.detached === true, stdio: ['ignore', out, out] });
    closeSync(out);
    let exited: number | string | null | undefined;
    child.once('exit', (code, signal) => (exited = code ?? signal));
    if (options.detached) child.unref();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && exited === undefined) {
      if (await answers(port, users[0] as string)) {
        const pid = child.pid as number;
        log(`pgbouncer: listening on 127.0.0.1:${port} (pid ${pid}, ${poolMode} pooling, pool size ${defaultPoolSize}, state ${dir})`);
        const bouncer = handle({ port, pid, dir, ownsDir, child, adminUser: users[0] as string });
        // An owner that dies without stop() (a crash) must not leave it running; `services` keeps its own on purpose.
        if (!options.detached) killOnExit(pid, ownsDir ? dir : undefined);
        return bouncer;
      }
      await sleep(50);
    }
    if (exited === undefined) child.kill('SIGKILL');
    lastError = [logFile, join(dir, 'stderr.log')].filter(existsSync).map((f) => readFileSync(f, 'utf8').trim().split('\n').slice(-2).join(' | ')).join(' | ');
    // Lost the race for the port: try another one.
    if (!/Address already in use/i.test(lastError)) break;
  }
  if (ownsDir) rmSync(dir, { recursive: true, force: true });
  throw new PgBouncerUnavailableError(`PgBouncer did not start: ${lastError || 'no answer within 10 s'}`);
}

async function answers(port: number, user: string): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user, database: 'pgbouncer', connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query({ text: 'SHOW VERSION', queryMode: 'simple' } as pg.QueryConfig);
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function handle(h: { port: number; pid: number; dir: string; ownsDir: boolean; child: ChildProcess | undefined; adminUser: string }): PgBouncer {
  return {
    port: h.port,
    pid: h.pid,
    stateDir: h.dir,
    url(database, user = 'postgres') {
      return `postgres://${encodeURIComponent(user)}@127.0.0.1:${h.port}/${encodeURIComponent(database)}`;
    },
    async admin(command) {
      // The admin console speaks only the simple query protocol.
      const client = new pg.Client({ host: '127.0.0.1', port: h.port, user: h.adminUser, database: 'pgbouncer' });
      client.on('error', () => {});
      await client.connect();
      try {
        const result = await client.query({ text: command, queryMode: 'simple' } as pg.QueryConfig);
        return (result.rows ?? []) as Record<string, unknown>[];
      } finally {
        await client.end().catch(() => {});
      }
    },
    async stop() {
      await stopProcess(h.pid);
      if (h.ownsDir) rmSync(h.dir, { recursive: true, force: true });
    },
  };
}

/** PgBouncers this process started and has not stopped yet (never a recycled PID of someone else's). */
const running = new Set<number>();

function killOnExit(pid: number, dir: string | undefined): void {
  running.add(pid);
  process.once('exit', () => {
    if (!running.has(pid)) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopProcess(pid: number, timeoutMs = 5000): Promise<void> {
  running.delete(pid);
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGINT'); // PgBouncer: SIGINT is a safe shutdown, SIGTERM an immediate one; both fine for us
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * `npm run services`: one long-lived PgBouncer per state directory. Reuses the
 * one whose pid file names a live process that still answers; else starts a
 * fresh one (detached). Returns its URL base (database `postgres`).
 */
export async function ensureServicesPgBouncer(target: { host: string; port: number }, stateDir: string, log: (line: string) => void): Promise<PgBouncer> {
  const record = join(stateDir, 'services.json');
  if (existsSync(record)) {
    try {
      const saved = JSON.parse(readFileSync(record, 'utf8')) as { pid: number; port: number; target: { host: string; port: number } };
      if (alive(saved.pid) && saved.target.host === target.host && saved.target.port === target.port && (await answers(saved.port, 'postgres'))) {
        return handle({ port: saved.port, pid: saved.pid, dir: stateDir, ownsDir: false, child: undefined, adminUser: 'postgres' });
      }
      if (alive(saved.pid)) await stopProcess(saved.pid);
    } catch {
      // unreadable record: start afresh
    }
  }
  mkdirSync(stateDir, { recursive: true });
  const bouncer = await startPgBouncer({ target, stateDir, detached: true, log });
  writeFileSync(record, JSON.stringify({ pid: bouncer.pid, port: bouncer.port, target }));
  return bouncer;
}

/** `npm run services -- down`: stop the PgBouncer `ensureServicesPgBouncer` started, if any. */
export async function stopServicesPgBouncer(stateDir: string): Promise<number | undefined> {
  const record = join(stateDir, 'services.json');
  if (!existsSync(record)) return undefined;
  let pid: number | undefined;
  try {
    pid = (JSON.parse(readFileSync(record, 'utf8')) as { pid: number }).pid;
    const cmdline = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '';
    // Only ours: the pid must still be a pgbouncer running our state directory's config.
    if (cmdline.includes('pgbouncer') && cmdline.includes(stateDir)) await stopProcess(pid);
    else pid = undefined;
  } finally {
    rmSync(record, { force: true });
  }
  return pid;
}
