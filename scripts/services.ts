/**
 * `npm run services [-- up|down]` makes PostgreSQL and a MongoDB-compatible
 * server reachable and prints `export DATABASE_URL=…` / `export MONGO_URL=…`
 * (shell-quoted) on stdout for `eval`; diagnostics go to stderr. Idempotent.
 * Resolution order:
 *   1. DATABASE_URL / MONGO_URL when both are set and reachable;
 *   2. `docker compose` (docker-compose.yml) when a Docker engine answers;
 *   3. local: this machine's PostgreSQL + FerretDB v1.24.2 (built once into a
 *      cache folder by scripts/ferretdb.sh), on loopback, telemetry disabled.
 * With none working it fails (exit 1) naming what is missing.
 *
 * `down` stops only what this script started: the FerretDB whose PID file it
 * wrote, the PgBouncer, or the compose services. Never the machine's PostgreSQL.
 *
 * `up` also puts a PgBouncer (transaction pooling, scripts/pgbouncer.ts) in
 * front of that PostgreSQL and prints `export PGBOUNCER_URL=…` (DATABASE_URL's
 * database through it); without PgBouncer (not installed and not root) it
 * says why on stderr and prints no PGBOUNCER_URL.
 *
 * Environment knobs: OUTBOX_RELAY_LOCAL_PG_URL (admin URL of the local
 * PostgreSQL, default postgres://postgres@127.0.0.1:5432/postgres),
 * OUTBOX_RELAY_FERRETDB_PORT (default 27017), OUTBOX_RELAY_FERRETDB_STATE_DIR
 * (FerretDB state, PID and log folder; default <cache>/ferretdb-state),
 * OUTBOX_RELAY_NO_DOCKER=1, OUTBOX_RELAY_CACHE (cache folder). A second port
 * with its own state folder is a second, independent FerretDB (the services
 * test starts and stops one so, never the shared one).
 */
import { execFile, execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { dockerComposeAvailable, dockerEngineAvailable } from './docker.ts';
import { installFerretDbIdIndex } from './ferretdbIdIndex.ts';
import { OwnedProcessStartError, portAccepts, processRunning, startOwnedProcess, stopOwnedPid } from './ownedProcess.ts';
import { ensureServicesPgBouncer, stopServicesPgBouncer } from './pgbouncer.ts';

const execFileAsync = promisify(execFile);
const REPO = dirname(dirname(fileURLToPath(import.meta.url)));

export const CACHE_DIR = process.env.OUTBOX_RELAY_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'outbox-relay');
const FERRET_STATE = process.env.OUTBOX_RELAY_FERRETDB_STATE_DIR || join(CACHE_DIR, 'ferretdb-state');
const FERRET_PID = join(FERRET_STATE, 'ferretdb.pid');
const FERRET_LOCK = join(FERRET_STATE, 'start.lock');
const FERRET_LOG = join(FERRET_STATE, 'ferretdb.log');
// Not under CACHE_DIR: PgBouncer runs unprivileged and must read its config (root's home is closed).
const PGBOUNCER_STATE = join(tmpdir(), `outbox-relay-pgbouncer-services-${process.getuid?.() ?? 0}`);

export const DEFAULT_LOCAL_PG = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCAL_DB = 'outbox_relay';
export const FERRET_BACKEND_DB = 'outbox_relay_ferretdb';
/** Host ports published by docker-compose.yml; keep both in step. */
export const COMPOSE_PG = 'postgres://postgres:postgres@127.0.0.1:55432/outbox_relay';
export const COMPOSE_MONGO = 'mongodb://127.0.0.1:57017/?replicaSet=rs0&directConnection=true';

export type ServicesSource = 'env' | 'docker' | 'local';
export interface Services {
  databaseUrl: string;
  mongoUrl: string;
  source: ServicesSource;
}
export interface ServicesOptions {
  /** Diagnostics (one line each); silent by default, the CLI passes stderr. */
  log?: (line: string) => void;
}

export class ServicesUnavailableError extends Error {
  readonly code = 'SERVICES_UNAVAILABLE';
  override readonly name = 'ServicesUnavailableError';
}

// ---------------------------------------------------------------- probes

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Never print a password, not even in an error message. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

export async function postgresReachable(url: string, timeoutMs = 3000): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {}); // a server-side drop after connect must not crash the script
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return describe(error);
  } finally {
    await client.end().catch(() => {});
  }
}

/** undefined when a MongoDB-compatible server answers `ping`, else why not. */
export async function mongoReachable(url: string, timeoutMs = 3000): Promise<string | undefined> {
  const probe = await probeMongo(url, timeoutMs);
  return probe.ok ? undefined : probe.error;
}

type MongoProbe = { ok: true; server: string; ferretdb: boolean } | { ok: false; error: string };

/** Ping plus buildInfo: which server answers (FerretDB reports `ferretdbVersion`). */
async function probeMongo(url: string, timeoutMs: number): Promise<MongoProbe> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs, socketTimeoutMS: timeoutMs });
  const probe = async (): Promise<MongoProbe> => {
    await client.connect();
    const admin = client.db('admin');
    // FerretDB answers `hello` from memory but `ping` through its backend pool:
    // a wedged FerretDB (pool exhausted) accepts connections and never answers it.
    await admin.command({ ping: 1 });
    const info = await admin.command({ buildInfo: 1 }).catch(() => ({}) as Record<string, unknown>);
    const ferret = typeof info.ferretdbVersion === 'string' ? info.ferretdbVersion : undefined;
    const server = ferret ? `FerretDB ${ferret}` : `MongoDB ${typeof info.version === 'string' ? info.version : '(unknown version)'}`;
    return { ok: true, server, ferretdb: ferret !== undefined };
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<MongoProbe>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: `no answer to ping within ${timeoutMs} ms` }), timeoutMs + 500);
  });
  try {
    return await Promise.race([probe().catch((error: unknown): MongoProbe => ({ ok: false, error: describe(error) })), deadline]);
  } finally {
    clearTimeout(timer);
    void client.close(true).catch(() => {}); // never wait on a server that does not answer
  }
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(describe).join('; ');
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- 1. env

async function fromEnv(): Promise<Services | undefined> {
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const mongoUrl = process.env.MONGO_URL || undefined;
  if (!databaseUrl && !mongoUrl) return undefined;
  if (!databaseUrl || !mongoUrl) {
    const missing = databaseUrl ? 'MONGO_URL' : 'DATABASE_URL';
    const set = databaseUrl ? 'DATABASE_URL' : 'MONGO_URL';
    throw new ServicesUnavailableError(`${set} is set but ${missing} is not: set ${missing} too, or unset ${set} to let this script provide both`);
  }
  const [pgError, mongoError] = await Promise.all([postgresReachable(databaseUrl), mongoReachable(mongoUrl)]);
  const problems = [
    ...(pgError ? [`DATABASE_URL (${redact(databaseUrl)}): PostgreSQL does not answer: ${pgError}`] : []),
    ...(mongoError ? [`MONGO_URL (${redact(mongoUrl)}): MongoDB does not answer: ${mongoError}`] : []),
  ];
  if (problems.length > 0) throw new ServicesUnavailableError(`unreachable: ${problems.join('; ')}`);
  return { databaseUrl, mongoUrl, source: 'env' };
}

// ---------------------------------------------------------------- 2. docker compose

/** Services from compose, or why compose was not used (undefined reason: no engine, say nothing). */
async function fromDocker(log: (line: string) => void): Promise<{ services?: Services; reason?: string }> {
  if (process.env.OUTBOX_RELAY_NO_DOCKER === '1') return { reason: 'Docker disabled by OUTBOX_RELAY_NO_DOCKER=1' };
  if (!(await dockerEngineAvailable())) return { reason: 'no Docker engine answers' };
  if (!(await dockerComposeAvailable())) {
    log('services: a Docker engine answers but `docker compose` (the compose v2 plugin) is missing; trying local services');
    return { reason: 'a Docker engine answers but the `docker compose` plugin is missing' };
  }
  log('services: starting postgres and mongo with docker compose (first run pulls images)');
  try {
    await execFileAsync('docker', ['compose', 'up', '-d', '--wait', 'postgres', 'mongo'], { cwd: REPO, timeout: 300_000 });
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim().split('\n').slice(-3).join(' | ') || describe(error);
    log(`services: docker compose up failed (${detail}); trying local services`);
    return { reason: `docker compose up failed: ${detail}` };
  }
  return { services: { databaseUrl: COMPOSE_PG, mongoUrl: COMPOSE_MONGO, source: 'docker' } };
}

// ---------------------------------------------------------------- 3. local PostgreSQL + FerretDB

function localPgAdminUrl(): string {
  return process.env.OUTBOX_RELAY_LOCAL_PG_URL || DEFAULT_LOCAL_PG;
}

function ferretPort(): number {
  const raw = process.env.OUTBOX_RELAY_FERRETDB_PORT ?? '27017';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new ServicesUnavailableError(`OUTBOX_RELAY_FERRETDB_PORT: not a port number: ${raw}`);
  return port;
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE "${name}"`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // created concurrently: fine
      });
    }
  } finally {
    await client.end().catch(() => {});
  }
}

/** Start the machine's Debian cluster if it was stopped; only for the default loopback URL. */
async function startLocalPostgres(adminUrl: string, log: (line: string) => void): Promise<void> {
  const { hostname, port } = new URL(adminUrl);
  if (!['127.0.0.1', 'localhost'].includes(hostname) || (port && port !== '5432')) return;
  try {
    const { stdout } = await execFileAsync('bash', ['-c', 'ls /etc/postgresql 2>/dev/null | sort -V | tail -1']);
    const version = stdout.trim();
    if (!version) return;
    log(`services: starting the local PostgreSQL ${version} cluster`);
    await execFileAsync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], { timeout: 60_000 });
  } catch {
    // reported by the reachability check that follows
  }
}

export function buildFerretDb(): string {
  // Build output goes to our stderr; only the binary path comes back on stdout.
  try {
    const out = execFileSync('bash', [join(REPO, 'scripts', 'ferretdb.sh'), 'build'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 20 * 60_000,
    });
    return out.trim().split('\n').pop() ?? '';
  } catch {
    return '';
  }
}

/**
 * The FerretDB this script started for `port`, if it runs. The PID file is the
 * record; /proc confirms the PID was not recycled, and a scan of /proc for our
 * own command line (state dir + listen address) finds it even when a PID file
 * was lost or overwritten by a concurrent run.
 */
export function ourFerretDbPid(port = ferretPort(), stateDir = FERRET_STATE): number | undefined {
  const ours = (cmdline: string) => cmdline.includes(`--state-dir=${stateDir}\0`) && cmdline.includes(`--listen-addr=127.0.0.1:${port}\0`);
  const pidFile = join(stateDir, 'ferretdb.pid');
  const recorded = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : NaN;
  if (!existsSync('/proc/self/cmdline')) {
    return Number.isInteger(recorded) && recorded > 0 && processRunning(recorded) ? recorded : undefined; // no /proc (macOS): trust a live PID
  }
  const cmdlineOf = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  };
  if (Number.isInteger(recorded) && recorded > 0 && ours(cmdlineOf(recorded))) return recorded;
  for (const entry of readdirSync('/proc')) {
    if (/^\d+$/.test(entry) && ours(cmdlineOf(Number(entry)))) return Number(entry);
  }
  return undefined;
}

/** FerretDB: SIGTERM, SIGKILL after 10 s. */
const stopPid = (pid: number) => stopOwnedPid(pid, { graceMs: 10_000 });

/**
 * Cross-process lock around "check, then start FerretDB": two `services` runs
 * at once (test.sh and a globalSetup, two engineers) must not both spawn one,
 * or the PID file ends up naming the loser that failed to bind.
 */
async function withStartLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(FERRET_STATE, { recursive: true });
  const deadline = Date.now() + 25 * 60_000; // a first run builds FerretDB inside the lock
  for (;;) {
    try {
      const fd = openSync(FERRET_LOCK, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(FERRET_LOCK, 'utf8').trim() || 0);
      // A holder that died leaves the file behind: take it over.
      if (!holder || (holder !== process.pid && !processRunning(holder))) rmSync(FERRET_LOCK, { force: true });
      else if (Date.now() > deadline) throw new ServicesUnavailableError(`timed out waiting for ${FERRET_LOCK} (held by pid ${holder})`);
      else await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(FERRET_LOCK, { force: true });
  }
}

/** How this project runs FerretDB: PostgreSQL backend, loopback only, telemetry off, no debug HTTP. */
export function ferretDbArgs(options: { backendUrl: string; port: number; stateDir: string }): string[] {
  return [
    '--handler=postgresql',
    `--postgresql-url=${options.backendUrl}`,
    `--listen-addr=127.0.0.1:${options.port}`,
    '--telemetry=disable', // never reach out to the internet
    '--debug-addr=-',
    `--state-dir=${options.stateDir}`,
    '--log-level=warn',
  ];
}

async function ensureFerretDb(backendUrl: string, port: number, log: (line: string) => void): Promise<string> {
  const mongoUrl = `mongodb://127.0.0.1:${port}/`;
  // A closed port fails at once; the driver would spend its whole selection timeout on it.
  const open = await portAccepts('127.0.0.1', port);
  const existing: MongoProbe = open ? await probeMongo(mongoUrl, 3000) : { ok: false, error: `nothing listens on 127.0.0.1:${port}` };
  const ours = ourFerretDbPid(port);
  if (existing.ok) {
    if (!ours) log(`services: 127.0.0.1:${port} already answers (${existing.server}), not started by this script; using it`);
    else if (!existing.ferretdb) log(`services: 127.0.0.1:${port} answers as ${existing.server}, yet our FerretDB (pid ${ours}) runs; check for a port clash`);
    return mongoUrl;
  }
  if (ours) {
    log(`services: our FerretDB (pid ${ours}) does not answer (${existing.error}); restarting it`);
    await stopPid(ours);
    rmSync(FERRET_PID, { force: true });
  } else if (open) {
    throw new ServicesUnavailableError(
      `127.0.0.1:${port} accepts connections but does not answer as a MongoDB-compatible server (${existing.error}); it is not a FerretDB this script started, so it is left alone: free the port or set OUTBOX_RELAY_FERRETDB_PORT`,
    );
  }
  const binary = buildFerretDb();
  if (!binary || !existsSync(binary)) {
    throw new ServicesUnavailableError('no MongoDB-compatible server: FerretDB could not be built (scripts/ferretdb.sh build; is the Go toolchain installed?)');
  }
  let server = 'FerretDB';
  try {
    const ferret = await startOwnedProcess(
      {
        name: 'FerretDB',
        command: binary,
        args: ferretDbArgs({ backendUrl, port, stateDir: FERRET_STATE }),
        env: { ...process.env, FERRETDB_TELEMETRY: 'disable' },
        logFile: FERRET_LOG,
        // Outlives this script: `services down` stops it by its PID file.
        detached: true,
        onSpawned: (pid) => writeFileSync(FERRET_PID, String(pid)),
        stopGraceMs: 10_000,
      },
      {
        timeoutMs: 30_000,
        check: async () => {
          if (!(await portAccepts('127.0.0.1', port, 200))) return 'not listening yet';
          const probe = await probeMongo(mongoUrl, 2000);
          if (!probe.ok) return probe.error;
          server = probe.server;
          return undefined;
        },
      },
    );
    log(`services: started ${server} on 127.0.0.1:${port} (pid ${ferret.pid}), log ${FERRET_LOG}`);
    return mongoUrl;
  } catch (error) {
    if (!(error instanceof OwnedProcessStartError)) throw error;
    rmSync(FERRET_PID, { force: true });
    throw new ServicesUnavailableError(
      `FerretDB did not answer on 127.0.0.1:${port} (${error.exit !== undefined ? `exited: ${error.exit}` : 'timed out after 30 s'}; ${error.lastCheck}); ${FERRET_LOG}: ${error.output}`,
    );
  }
}

async function fromLocal(log: (line: string) => void, dockerReason: string | undefined): Promise<Services> {
  const adminUrl = localPgAdminUrl();
  let pgError = await postgresReachable(adminUrl);
  if (pgError) {
    await startLocalPostgres(adminUrl, log);
    pgError = await postgresReachable(adminUrl, 10_000);
  }
  if (pgError) {
    throw new ServicesUnavailableError(
      `no PostgreSQL available: DATABASE_URL/MONGO_URL are not set, ${dockerReason ?? 'Docker was not used'}, and the local PostgreSQL at ${redact(adminUrl)} does not answer (${pgError}); set OUTBOX_RELAY_LOCAL_PG_URL or DATABASE_URL/MONGO_URL`,
    );
  }
  await ensureDatabase(adminUrl, LOCAL_DB);
  await ensureDatabase(adminUrl, FERRET_BACKEND_DB);
  const port = ferretPort();
  if (await installFerretDbIdIndex(withDatabase(adminUrl, FERRET_BACKEND_DB))) {
    // Only new backend sessions see the new plan_cache_mode (scripts/ferretdbIdIndex.ts).
    const running = ourFerretDbPid(port);
    if (running) {
      log(`services: restarting our FerretDB (pid ${running}) so its backend sessions plan each query with its values`);
      await stopPid(running);
      rmSync(FERRET_PID, { force: true });
    }
  }
  const mongoUrl = await withStartLock(() => ensureFerretDb(withDatabase(adminUrl, FERRET_BACKEND_DB), port, log));
  return { databaseUrl: withDatabase(adminUrl, LOCAL_DB), mongoUrl, source: 'local' };
}

// ---------------------------------------------------------------- entry points

/** Make both services reachable (idempotent) and say where they are. */
export async function ensureServices(options: ServicesOptions = {}): Promise<Services> {
  const log = options.log ?? (() => {});
  const env = await fromEnv();
  if (env) return env;
  const docker = await fromDocker(log);
  return docker.services ?? (await fromLocal(log, docker.reason));
}

/** Stop what this script started; returns what it stopped. */
export async function stopServices(options: ServicesOptions = {}): Promise<string[]> {
  const log = options.log ?? (() => {});
  const stopped: string[] = [];
  const bouncerPid = await stopServicesPgBouncer(PGBOUNCER_STATE);
  if (bouncerPid) stopped.push(`pgbouncer (pid ${bouncerPid})`);
  const pid = ourFerretDbPid();
  if (pid) {
    await stopPid(pid);
    stopped.push(`ferretdb (pid ${pid})`);
  } else if (existsSync(FERRET_PID)) {
    log('services: the FerretDB PID file names no live FerretDB; removing it');
  }
  rmSync(FERRET_PID, { force: true });
  if (process.env.OUTBOX_RELAY_NO_DOCKER !== '1' && (await dockerEngineAvailable()) && (await dockerComposeAvailable())) {
    const { stdout } = await execFileAsync('docker', ['compose', 'ps', '-q'], { cwd: REPO, timeout: 60_000 });
    if (stdout.trim()) {
      // `down` keeps the named volumes: data survives until `docker compose down -v`.
      await execFileAsync('docker', ['compose', 'down'], { cwd: REPO, timeout: 120_000 });
      stopped.push('docker compose services');
    }
  }
  return stopped;
}

/** Single-quoted for POSIX shells: a MONGO_URL's `&` must not background anything under eval. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

async function main(): Promise<void> {
  const command = process.argv[2] ?? 'up';
  const log = (line: string) => console.error(line);
  if (command === 'down') {
    const stopped = await stopServices({ log });
    log(stopped.length ? `services: stopped ${stopped.join(', ')}` : 'services: nothing to stop (only what this script started is stopped)');
    return;
  }
  if (command !== 'up' && command !== 'env') {
    log('usage: npm run services [-- up|down]');
    process.exitCode = 2;
    return;
  }
  const services = await ensureServices({ log });
  log(`services: ready (${services.source})`);
  console.log(`export DATABASE_URL=${shellQuote(services.databaseUrl)}`);
  console.log(`export MONGO_URL=${shellQuote(services.mongoUrl)}`);
  const pgbouncerUrl = await ensurePgBouncerUrl(services.databaseUrl, log);
  if (pgbouncerUrl) console.log(`export PGBOUNCER_URL=${shellQuote(pgbouncerUrl)}`);
}

/** DATABASE_URL's database (and user) through our PgBouncer, or undefined (and why, on stderr). */
export async function ensurePgBouncerUrl(databaseUrl: string, log: (line: string) => void): Promise<string | undefined> {
  const parsed = new URL(databaseUrl);
  try {
    const bouncer = await ensureServicesPgBouncer({ host: parsed.hostname, port: Number(parsed.port || 5432) }, PGBOUNCER_STATE, log);
    const through = new URL(databaseUrl);
    through.hostname = '127.0.0.1';
    through.port = String(bouncer.port);
    return through.toString();
  } catch (error) {
    log(`services: no PgBouncer (${describe(error)}); PGBOUNCER_URL not set`);
    return undefined;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(`services: ${describe(error)}`);
    process.exitCode = 1;
  });
}
