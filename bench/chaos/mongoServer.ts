/**
 * A MongoDB-compatible server the chaos run owns, so the fault loop can stop
 * and restart it (`mongo-restart`). The shared FerretDB on MONGO_URL serves
 * tests and other runs on this machine: stopping it would break them, so the
 * run starts a dedicated FerretDB on a free loopback port instead — same
 * binary, same PostgreSQL backend database, its own state folder.
 *
 * Only when MONGO_URL is the local FerretDB that scripts/services.ts started:
 * a user's MongoDB (or docker compose) is not ours to stop, and then there is
 * no dedicated server (undefined) and no `mongo-restart` fault.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { buildFerretDb, DEFAULT_LOCAL_PG, FERRET_BACKEND_DB, ferretDbArgs, ourFerretDbPid } from '../../scripts/services.ts';
import { withDatabase } from '../../test/helpers/urls.ts';

export interface MongoServer {
  /** Direct URL (not through the chaos TCP proxy). */
  readonly url: string;
  readonly port: number;
  /** PID of the running process; undefined while stopped. */
  readonly pid: number | undefined;
  /** SIGTERM, SIGKILL after 5 s; resolves once the process is gone. */
  stop(): Promise<void>;
  /** Start again on the same port; resolves once a ping answers (30 s max). */
  start(): Promise<void>;
  /** Stop and remove the state folder. Idempotent. */
  close(): Promise<void>;
}

const STOP_GRACE_MS = 5000;
const READY_TIMEOUT_MS = 30_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The dedicated server, started and answering; undefined when MONGO_URL is not our local FerretDB. */
export async function startDedicatedMongoServer(mongoUrl: string, logFile: string): Promise<MongoServer | undefined> {
  if (!usesOurLocalFerretDb(mongoUrl)) return undefined;
  const binary = buildFerretDb();
  if (!binary) throw new Error('scripts/ferretdb.sh build printed no FerretDB binary path');
  const port = await freeLoopbackPort();
  const stateDir = mkdtempSync(join(tmpdir(), 'outbox-relay-chaos-ferretdb-'));
  // The backend URL scripts/services.ts gives the shared FerretDB: collections land in the same PostgreSQL database.
  const backendUrl = withDatabase(process.env.OUTBOX_RELAY_LOCAL_PG_URL || DEFAULT_LOCAL_PG, FERRET_BACKEND_DB);
  const args = ferretDbArgs({ backendUrl, port, stateDir });
  const url = `mongodb://127.0.0.1:${port}/`;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let closed = false;

  // A chaos run that dies without its cleanup must not leave a FerretDB behind.
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  function launch(): void {
    appendFileSync(logFile, `--- chaos: starting FerretDB on 127.0.0.1:${port} at ${new Date().toISOString()}\n`);
    const logFd = openSync(logFile, 'a');
    const spawned = spawn(binary, args, { stdio: ['ignore', logFd, logFd], env: { ...process.env, FERRETDB_TELEMETRY: 'disable' } });
    closeSync(logFd);
    child = spawned;
    exited = new Promise<void>((resolve) =>
      spawned.once('exit', (code, signal) => {
        appendFileSync(logFile, `--- chaos: FerretDB pid ${spawned.pid} exited (code ${code}, signal ${signal})\n`);
        if (child === spawned) child = undefined;
        resolve();
      }),
    );
  }

  async function stop(): Promise<void> {
    const running = child;
    if (!running) return;
    const done = exited;
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), STOP_GRACE_MS);
    await done;
    clearTimeout(timer);
  }

  async function start(): Promise<void> {
    if (closed) throw new Error('the dedicated FerretDB was closed');
    if (child) return;
    launch();
    const started = child;
    let gone = false;
    void exited.then(() => (gone = true));
    const lastError = await waitForPing(url, () => gone);
    if (lastError === undefined) return;
    if (child === started) await stop();
    throw new Error(`the dedicated FerretDB on 127.0.0.1:${port} did not answer a ping (${gone ? 'it exited' : `${READY_TIMEOUT_MS / 1000} s`}; ${lastError}); see ${logFile}`);
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    await stop();
    process.removeListener('exit', killOnExit);
    rmSync(stateDir, { recursive: true, force: true });
  }

  try {
    await start();
  } catch (error) {
    await close();
    throw error;
  }
  return {
    url,
    port,
    get pid() {
      return child?.pid;
    },
    stop,
    start,
    close,
  };
}

/** MONGO_URL points at the loopback FerretDB that scripts/services.ts started (not a user's server). */
function usesOurLocalFerretDb(mongoUrl: string): boolean {
  const parsed = new URL(mongoUrl);
  if (!['127.0.0.1', 'localhost'].includes(parsed.hostname)) return false;
  return ourFerretDbPid(Number(parsed.port || 27017)) !== undefined;
}

/** A port the kernel just handed out on loopback; FerretDB binds it right after. */
function freeLoopbackPort(): Promise<number> {
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
 * Ping until it answers: undefined when it did, else the last error. FerretDB
 * answers `ping` through its PostgreSQL pool, so an answer means the backend
 * works too, not only that the port is open.
 */
async function waitForPing(url: string, hasExited: () => boolean): Promise<string | undefined> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = 'not started';
  while (Date.now() < deadline && !hasExited()) {
    const client = new MongoClient(url, { directConnection: true, serverSelectionTimeoutMS: 1000, connectTimeoutMS: 1000, socketTimeoutMS: 2000 });
    try {
      await client.connect();
      await client.db('admin').command({ ping: 1 });
      return undefined;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    } finally {
      await client.close(true).catch(() => {});
    }
    await sleep(100);
  }
  return lastError;
}
