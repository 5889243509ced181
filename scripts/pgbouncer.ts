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
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort, lastOutput, OwnedProcessStartError, processRunning, startOwnedProcess, stopOwnedPid } from './ownedProcess.ts';

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

/** PgBouncer: SIGINT is a safe shutdown (SIGTERM an immediate one; both fine for us), SIGKILL 5 s later. */
const STOP = { signal: 'SIGINT', graceMs: 5000 } as const;

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
    try {
      const server = await startOwnedProcess(
        // An owner that dies without stop() (a crash) must not leave it running; `services` keeps its own on purpose.
        { name: 'PgBouncer', command, args, logFile: join(dir, 'stderr.log'), detached: options.detached === true, stopSignal: STOP.signal, stopGraceMs: STOP.graceMs },
        { timeoutMs: 10_000, check: async () => ((await answers(port, users[0] as string)) ? undefined : `no answer on 127.0.0.1:${port}`) },
      );
      log(`pgbouncer: listening on 127.0.0.1:${port} (pid ${server.pid}, ${poolMode} pooling, pool size ${defaultPoolSize}, state ${dir})`);
      let stopped = false;
      if (!options.detached && ownsDir) process.once('exit', () => stopped || rmSync(dir, { recursive: true, force: true }));
      return handle({
        port,
        pid: server.pid,
        dir,
        ownsDir,
        adminUser: users[0] as string,
        stopProcess: async () => {
          stopped = true;
          await server.stop();
        },
      });
    } catch (error) {
      if (!(error instanceof OwnedProcessStartError)) throw error;
      lastError = lastOutput([logFile, join(dir, 'stderr.log')], 2);
    }
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

function handle(h: { port: number; pid: number; dir: string; ownsDir: boolean; adminUser: string; stopProcess: () => Promise<void> }): PgBouncer {
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
      await h.stopProcess();
      if (h.ownsDir) rmSync(h.dir, { recursive: true, force: true });
    },
  };
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
      if (processRunning(saved.pid) && saved.target.host === target.host && saved.target.port === target.port && (await answers(saved.port, 'postgres'))) {
        return handle({ port: saved.port, pid: saved.pid, dir: stateDir, ownsDir: false, adminUser: 'postgres', stopProcess: () => stopOwnedPid(saved.pid, STOP) });
      }
      if (processRunning(saved.pid)) await stopOwnedPid(saved.pid, STOP);
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
    if (cmdline.includes('pgbouncer') && cmdline.includes(stateDir)) await stopOwnedPid(pid, STOP);
    else pid = undefined;
  } finally {
    rmSync(record, { force: true });
  }
  return pid;
}
