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
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { freePort, OwnedProcessStartError, startOwnedProcess, type OwnedProcess } from '../../scripts/ownedProcess.ts';
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

/** The dedicated server, started and answering; undefined when MONGO_URL is not our local FerretDB. */
export async function startDedicatedMongoServer(mongoUrl: string, logFile: string): Promise<MongoServer | undefined> {
  if (!usesOurLocalFerretDb(mongoUrl)) return undefined;
  const binary = buildFerretDb();
  if (!binary) throw new Error('scripts/ferretdb.sh build printed no FerretDB binary path');
  const port = await freePort();
  const stateDir = mkdtempSync(join(tmpdir(), 'outbox-relay-chaos-ferretdb-'));
  // The backend URL scripts/services.ts gives the shared FerretDB: collections land in the same PostgreSQL database.
  const backendUrl = withDatabase(process.env.OUTBOX_RELAY_LOCAL_PG_URL || DEFAULT_LOCAL_PG, FERRET_BACKEND_DB);
  const args = ferretDbArgs({ backendUrl, port, stateDir });
  const url = `mongodb://127.0.0.1:${port}/`;
  let server: OwnedProcess | undefined;
  let closed = false;

  async function stop(): Promise<void> {
    await server?.stop();
  }

  async function start(): Promise<void> {
    if (closed) throw new Error('the dedicated FerretDB was closed');
    if (server?.running()) return;
    appendFileSync(logFile, `--- chaos: starting FerretDB on 127.0.0.1:${port} at ${new Date().toISOString()}\n`);
    try {
      // Killed (SIGKILL) if the chaos run dies without its cleanup.
      server = await startOwnedProcess(
        {
          name: 'FerretDB',
          command: binary,
          args,
          env: { ...process.env, FERRETDB_TELEMETRY: 'disable' },
          logFile,
          stopGraceMs: STOP_GRACE_MS,
          onExit: (how, pid) => appendFileSync(logFile, `--- chaos: FerretDB pid ${pid} exited (${how})\n`),
        },
        { timeoutMs: READY_TIMEOUT_MS, intervalMs: 100, check: () => ping(url) },
      );
    } catch (error) {
      if (!(error instanceof OwnedProcessStartError)) throw error;
      throw new Error(`the dedicated FerretDB on 127.0.0.1:${port} did not answer a ping (${error.exit ? 'it exited' : `${READY_TIMEOUT_MS / 1000} s`}; ${error.lastCheck}); see ${logFile}`);
    }
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    await stop();
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
      return server?.running() ? server.pid : undefined;
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

/**
 * One ping: undefined when it answered, else why not. FerretDB answers `ping`
 * through its PostgreSQL pool, so an answer means the backend works too, not
 * only that the port is open.
 */
async function ping(url: string): Promise<string | undefined> {
  const client = new MongoClient(url, { directConnection: true, serverSelectionTimeoutMS: 1000, connectTimeoutMS: 1000, socketTimeoutMS: 2000 });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.close(true).catch(() => {});
  }
}
