/**
 * A throwaway PostgreSQL cluster of our own, for the faults that stop the
 * server: `restart()` is a real primary restart (fast shutdown: every
 * connection is cut, in-flight transactions roll back; then a fresh
 * postmaster on the same address), which the shared PostgreSQL other
 * processes use must never see.
 *
 * initdb into a fresh directory under the temp dir (about 2 s), run
 * unprivileged (PostgreSQL refuses root) on a free loopback port, trust auth
 * on loopback only, fsync off (throwaway data). Needs the server binaries
 * (Debian: /usr/lib/postgresql/<version>/bin, package postgresql-<version>).
 * The postmaster is our child (ownedProcess.ts): ready once it answers a
 * query, stopped with SIGINT (PostgreSQL's fast shutdown; SIGTERM would wait
 * for every client to leave), killed with SIGQUIT (immediate shutdown) if
 * the owner exits without stopping it.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort, OwnedProcessStartError, startOwnedProcess, type OwnedProcess } from './ownedProcess.ts';
import { asUser, unprivilegedUser } from './pgbouncer.ts';

const execFileAsync = promisify(execFile);

export class OwnPostgresUnavailableError extends Error {
  readonly code = 'SERVICES_UNAVAILABLE';
  override readonly name = 'OwnPostgresUnavailableError';
}

export interface OwnPostgres {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly dataDir: string;
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  url(database?: string): string;
  /** Fast shutdown, `downMs` with nothing listening, start again on the same port. */
  restart(options?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

/** The newest installed server's bin directory, or undefined. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Ready: the server answers a query (not only "the database system is starting up"). */
async function answersQuery(port: number): Promise<string | undefined> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function startOwnPostgres(options: { log?: (line: string) => void } = {}): Promise<OwnPostgres> {
  const log = options.log ?? (() => {});
  const bin = postgresBinDir();
  if (!bin) throw new OwnPostgresUnavailableError('no PostgreSQL server binaries (initdb) under /usr/lib/postgresql: install postgresql (Debian) to own a cluster');
  const user = unprivilegedUser();
  const dir = mkdtempSync(join(tmpdir(), 'outbox-relay-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const dataDir = join(dir, 'data');
  const run = async (binary: string, args: string[], timeout = 120_000) => {
    const [command, fullArgs] = asUser(user, join(bin, binary), args);
    return execFileAsync(command, fullArgs, { timeout, cwd: dir });
  };
  try {
    const t0 = Date.now();
    await run('initdb', ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '--no-instructions', '-E', 'UTF8']);
    log(`own postgres: initdb in ${Date.now() - t0} ms (${dataDir})`);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new OwnPostgresUnavailableError(`initdb failed: ${(error as { stderr?: string }).stderr?.trim() || String(error)}`);
  }
  let port = await freePort();
  let server: OwnedProcess | undefined;
  const start = async () => {
    const [command, args] = asUser(user, join(bin, 'postgres'), [
      '-D', dataDir, '-p', String(port), '-k', dir,
      '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
    ]);
    server = await startOwnedProcess(
      { name: 'PostgreSQL', command, args, cwd: dir, logFile: join(dir, 'postgres.log'), stopSignal: 'SIGINT', stopGraceMs: 60_000, exitSignal: 'SIGQUIT' },
      { timeoutMs: 60_000, intervalMs: 100, check: () => answersQuery(port) },
    );
  };
  for (let attempt = 0; ; attempt++) {
    try {
      await start();
      break;
    } catch (error) {
      if (attempt === 4 || !(error instanceof OwnedProcessStartError)) {
        rmSync(dir, { recursive: true, force: true });
        throw new OwnPostgresUnavailableError(`PostgreSQL did not start: ${error instanceof Error ? error.message : String(error)}`);
      }
      port = await freePort(); // lost the port to someone else: another one
    }
  }
  log(`own postgres: listening on 127.0.0.1:${port}`);
  let stopped = false;
  // An owner that dies without stop() leaves no data behind (the server itself gets SIGQUIT from its own exit hook).
  process.once('exit', () => {
    if (!stopped) rmSync(dir, { recursive: true, force: true });
  });
  const stop = async () => {
    await server?.stop();
  };
  return {
    host: '127.0.0.1',
    port,
    dataDir,
    url(database = 'postgres') {
      return `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`;
    },
    async restart(restartOptions = {}) {
      await stop();
      await sleep(restartOptions.downMs ?? 0);
      await start();
    },
    async stop() {
      await stop();
      stopped = true;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
