/**
 * `npm run services [-- up|down|env]` makes PostgreSQL and a MongoDB-compatible
 * server reachable and prints `export DATABASE_URL=…` / `export MONGO_URL=…`
 * for `eval`. Idempotent. Resolution order:
 *   1. DATABASE_URL / MONGO_URL when set and reachable;
 *   2. `docker compose` when a Docker engine answers;
 *   3. local: this machine's PostgreSQL + FerretDB v1.24.2 (built once into a
 *      cache folder by scripts/ferretdb.sh), on loopback, telemetry disabled.
 * With none working it fails naming what is missing.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { dockerEngineAvailable } from './docker.ts';

const execFileAsync = promisify(execFile);
const REPO = dirname(dirname(fileURLToPath(import.meta.url)));

export const CACHE_DIR = process.env.OUTBOX_RELAY_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'outbox-relay');
const FERRET_STATE = join(CACHE_DIR, 'ferretdb-state');
const FERRET_PID = join(FERRET_STATE, 'ferretdb.pid');

const LOCAL_PG_HOST = process.env.OUTBOX_RELAY_LOCAL_PG ?? 'postgres://postgres@127.0.0.1:5432';
const LOCAL_DB = 'outbox_relay';
const FERRET_BACKEND_DB = 'outbox_relay_ferretdb';
const FERRET_PORT = Number(process.env.OUTBOX_RELAY_FERRETDB_PORT ?? 27017);
const COMPOSE_PG = 'postgres://postgres:postgres@127.0.0.1:55432/outbox_relay';
const COMPOSE_MONGO = 'mongodb://127.0.0.1:57017/?replicaSet=rs0&directConnection=true';

export type ServicesSource = 'env' | 'docker' | 'local';
export interface Services {
  databaseUrl: string;
  mongoUrl: string;
  source: ServicesSource;
}

export class ServicesUnavailableError extends Error {
  readonly code = 'SERVICES_UNAVAILABLE';
}

export async function postgresReachable(url: string, timeoutMs = 3000): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function mongoReachable(url: string, timeoutMs = 3000): Promise<string | undefined> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
    return undefined;
  } catch (error) {
    return (error as Error).message || String(error);
  } finally {
    await client.close().catch(() => {});
  }
}

async function fromEnv(): Promise<Services | undefined> {
  const databaseUrl = process.env.DATABASE_URL;
  const mongoUrl = process.env.MONGO_URL;
  if (!databaseUrl && !mongoUrl) return undefined;
  if (!databaseUrl || !mongoUrl) {
    throw new ServicesUnavailableError(`only one of DATABASE_URL and MONGO_URL is set; set both, or neither to let this script start local services`);
  }
  const [pgError, mongoError] = await Promise.all([postgresReachable(databaseUrl), mongoReachable(mongoUrl)]);
  if (pgError) throw new ServicesUnavailableError(`DATABASE_URL is set but PostgreSQL does not answer: ${pgError}`);
  if (mongoError) throw new ServicesUnavailableError(`MONGO_URL is set but MongoDB does not answer: ${mongoError}`);
  return { databaseUrl, mongoUrl, source: 'env' };
}

async function fromDocker(): Promise<Services | undefined> {
  if (process.env.OUTBOX_RELAY_NO_DOCKER === '1' || !(await dockerEngineAvailable())) return undefined;
  await execFileAsync('docker', ['compose', 'up', '-d', '--wait', 'postgres', 'mongo'], { cwd: REPO, timeout: 300_000 });
  return { databaseUrl: COMPOSE_PG, mongoUrl: COMPOSE_MONGO, source: 'docker' };
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${adminUrl}/postgres` });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE "${name}"`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // created concurrently: fine
      });
    }
  } finally {
    await client.end();
  }
}

async function startLocalPostgres(): Promise<void> {
  // This machine kind runs a Debian cluster; start it if it was stopped.
  try {
    const { stdout } = await execFileAsync('bash', ['-c', 'ls /etc/postgresql 2>/dev/null | head -1']);
    const version = stdout.trim();
    if (!version) return;
    await execFileAsync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], { timeout: 60_000 });
  } catch {
    // reported by the reachability check that follows
  }
}

function buildFerretDb(): string {
  // Build output goes to our stderr; only the binary path comes back on stdout.
  const out = execFileSync('bash', [join(REPO, 'scripts', 'ferretdb.sh'), 'build'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 20 * 60_000,
  });
  return out.trim().split('\n').pop() ?? '';
}

function ferretPidAlive(): number | undefined {
  if (!existsSync(FERRET_PID)) return undefined;
  const pid = Number(readFileSync(FERRET_PID, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

async function startFerretDb(backendUrl: string, mongoUrl: string): Promise<void> {
  if (!(await mongoReachable(mongoUrl, 1000))) return; // already up (ours or compatible)
  const binary = buildFerretDb();
  if (!binary || !existsSync(binary)) throw new ServicesUnavailableError('FerretDB could not be built (scripts/ferretdb.sh build); is the Go toolchain installed?');
  mkdirSync(FERRET_STATE, { recursive: true });
  const log = openSync(join(FERRET_STATE, 'ferretdb.log'), 'a');
  const child = spawn(
    binary,
    [
      '--handler=postgresql',
      `--postgresql-url=${backendUrl}`,
      `--listen-addr=127.0.0.1:${FERRET_PORT}`,
      '--telemetry=disable', // never reach out to the internet
      '--debug-addr=-',
      `--state-dir=${FERRET_STATE}`,
      '--log-level=warn',
    ],
    { detached: true, stdio: ['ignore', log, log], env: { ...process.env, FERRETDB_TELEMETRY: 'disable' } },
  );
  child.unref();
  writeFileSync(FERRET_PID, String(child.pid));
  const deadline = Date.now() + 30_000;
  let lastError: string | undefined = 'not started';
  while (Date.now() < deadline) {
    lastError = await mongoReachable(mongoUrl, 1000);
    if (!lastError) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new ServicesUnavailableError(`FerretDB did not answer on 127.0.0.1:${FERRET_PORT} within 30 s (${lastError}); see ${join(FERRET_STATE, 'ferretdb.log')}`);
}

async function fromLocal(): Promise<Services> {
  let pgError = await postgresReachable(`${LOCAL_PG_HOST}/postgres`);
  if (pgError) {
    await startLocalPostgres();
    pgError = await postgresReachable(`${LOCAL_PG_HOST}/postgres`, 10_000);
  }
  if (pgError) {
    throw new ServicesUnavailableError(
      `no services available: DATABASE_URL/MONGO_URL are not set, no Docker engine answers, and the local PostgreSQL at ${LOCAL_PG_HOST} does not answer (${pgError})`,
    );
  }
  await ensureDatabase(LOCAL_PG_HOST, LOCAL_DB);
  await ensureDatabase(LOCAL_PG_HOST, FERRET_BACKEND_DB);
  const mongoUrl = `mongodb://127.0.0.1:${FERRET_PORT}/`;
  await startFerretDb(`${LOCAL_PG_HOST}/${FERRET_BACKEND_DB}`, mongoUrl);
  return { databaseUrl: `${LOCAL_PG_HOST}/${LOCAL_DB}`, mongoUrl, source: 'local' };
}

export async function ensureServices(): Promise<Services> {
  return (await fromEnv()) ?? (await fromDocker()) ?? (await fromLocal());
}

export async function stopServices(): Promise<string[]> {
  const stopped: string[] = [];
  const pid = ferretPidAlive();
  if (pid) {
    process.kill(pid, 'SIGTERM');
    stopped.push(`ferretdb (pid ${pid})`);
  }
  rmSync(FERRET_PID, { force: true });
  if (process.env.OUTBOX_RELAY_NO_DOCKER !== '1' && (await dockerEngineAvailable())) {
    await execFileAsync('docker', ['compose', 'down'], { cwd: REPO, timeout: 120_000 });
    stopped.push('docker compose services');
  }
  return stopped;
}

async function main(): Promise<void> {
  const command = process.argv[2] ?? 'up';
  if (command === 'down') {
    const stopped = await stopServices();
    console.error(stopped.length ? `stopped: ${stopped.join(', ')}` : 'nothing to stop');
    return;
  }
  if (command !== 'up' && command !== 'env') {
    console.error('usage: npm run services [-- up|down]');
    process.exit(2);
  }
  const services = await ensureServices();
  console.error(`services ready (${services.source})`);
  console.log(`export DATABASE_URL=${services.databaseUrl}`);
  console.log(`export MONGO_URL=${services.mongoUrl}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(`services: ${(error as Error).message ?? String(error)}`);
    process.exit(1);
  });
}
