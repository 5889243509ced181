/**
 * `npm run services` as a user runs it: a child process on this Node, its
 * stdout eval'd by a real shell. "Nothing available" is simulated with URLs
 * on closed loopback ports, and `down` is tried on a FerretDB the test starts
 * for itself: never by stopping the shared services.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { processRunning } from '../../scripts/ownedProcess.ts';
import { DEFAULT_LOCAL_PG, FERRET_BACKEND_DB, mongoReachable, ourFerretDbPid, postgresReachable } from '../../scripts/services.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/services.ts', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function runServices(args: string[], env: Record<string, string | undefined>): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

/** The environment minus the URLs, so the script resolves services itself. */
function envWithout(...names: string[]): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of names) delete env[name];
  return env;
}

/** What a shell gets after `eval "$(npm run -s services)"`. */
function evalInShell(stdout: string): Promise<{ DATABASE_URL: string; MONGO_URL: string }> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', 'unset DATABASE_URL MONGO_URL; eval "$1"; printf "%s\\n%s\\n" "$DATABASE_URL" "$MONGO_URL"', 'eval', stdout], (error, out) => {
      if (error) return reject(error);
      const [DATABASE_URL = '', MONGO_URL = ''] = out.split('\n');
      resolve({ DATABASE_URL, MONGO_URL });
    });
  });
}

/** A loopback port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// Where a developer points the tests at their own databases (DATABASE_URL /
// MONGO_URL), there may be no local PostgreSQL or FerretDB to exercise. CI
// always tests the local path: it never sets those, and never skips these.
const testsLocalPath = Boolean(process.env.CI) || !(process.env.DATABASE_URL || process.env.MONGO_URL);

describe('npm run services', () => {
  it('is harmless to run twice in a row and prints the same eval-able lines both times', async () => {
    const first = await runServices([], process.env);
    expect(first.code, first.stderr).toBe(0);
    const second = await runServices(['up'], process.env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(first.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^export DATABASE_URL=/), expect.stringMatching(/^export MONGO_URL=/), expect.stringMatching(/^export PGBOUNCER_URL=/)]);
    const exported = await evalInShell(first.stdout);
    expect(exported.DATABASE_URL).toMatch(/^postgres(ql)?:\/\//);
    expect(exported.MONGO_URL).toMatch(/^mongodb:\/\//);
    expect(await mongoReachable(exported.MONGO_URL)).toBeUndefined();
    // PGBOUNCER_URL: DATABASE_URL's database through a PgBouncer in transaction pooling mode.
    const pgbouncerUrl = /^export PGBOUNCER_URL='(.*)'$/m.exec(first.stdout)?.[1] ?? '';
    const through = new pg.Client({ connectionString: pgbouncerUrl });
    await through.connect();
    try {
      expect((await through.query('SELECT current_database() AS db')).rows[0].db).toBe(new URL(exported.DATABASE_URL).pathname.slice(1));
    } finally {
      await through.end();
    }
    const admin = new pg.Client({ connectionString: Object.assign(new URL(pgbouncerUrl), { pathname: '/pgbouncer' }).toString() });
    await admin.connect();
    try {
      const pools = (await admin.query({ text: 'SHOW POOLS', queryMode: 'simple' } as pg.QueryConfig)).rows as { database: string; pool_mode: string }[];
      expect(pools.find((p) => p.database === new URL(exported.DATABASE_URL).pathname.slice(1))?.pool_mode).toBe('transaction');
    } finally {
      await admin.end();
    }
    console.info(`services up: ${first.ms} ms, then ${second.ms} ms (warm)`);
  });

  it('hands env URLs through unchanged, quoted so a shell eval keeps the & of a query string', async () => {
    const { databaseUrl, mongoUrl } = inject('services');
    const withQuery = `${mongoUrl}${mongoUrl.includes('?') ? '&' : '?'}appName=services-test&directConnection=true`;
    const run = await runServices([], { ...process.env, DATABASE_URL: databaseUrl, MONGO_URL: withQuery });
    expect(run.code, run.stderr).toBe(0);
    expect(await evalInShell(run.stdout)).toEqual({ DATABASE_URL: databaseUrl, MONGO_URL: withQuery });
  });

  it('fails naming both services when DATABASE_URL and MONGO_URL point at closed ports', async () => {
    const [pgPort, mongoPort] = [await closedPort(), await closedPort()];
    const run = await runServices([], { ...process.env, DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:${pgPort}/x`, MONGO_URL: `mongodb://127.0.0.1:${mongoPort}/` });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`DATABASE_URL (postgres://postgres:***@127.0.0.1:${pgPort}/x): PostgreSQL does not answer`);
    expect(run.stderr).toContain(`MONGO_URL (mongodb://127.0.0.1:${mongoPort}/): MongoDB does not answer`);
    expect(run.stderr).not.toContain('hunter2');
  });

  it('names the missing one when only DATABASE_URL or only MONGO_URL is set', async () => {
    const onlyPg = await runServices([], { ...envWithout('MONGO_URL'), DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' });
    expect(onlyPg.code).toBe(1);
    expect(onlyPg.stderr).toMatch(/DATABASE_URL is set but MONGO_URL is not/);
    const onlyMongo = await runServices([], { ...envWithout('DATABASE_URL'), MONGO_URL: 'mongodb://127.0.0.1:27017/' });
    expect(onlyMongo.code).toBe(1);
    expect(onlyMongo.stderr).toMatch(/MONGO_URL is set but DATABASE_URL is not/);
  });

  it('fails naming PostgreSQL when neither env, Docker nor a local PostgreSQL is available', async () => {
    const port = await closedPort();
    const run = await runServices([], { ...envWithout('DATABASE_URL', 'MONGO_URL'), OUTBOX_RELAY_NO_DOCKER: '1', OUTBOX_RELAY_LOCAL_PG_URL: `postgres://postgres@127.0.0.1:${port}/postgres` });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`no PostgreSQL available`);
    expect(run.stderr).toContain(`127.0.0.1:${port}`);
  });

  it.runIf(testsLocalPath)('leaves a port alone that something other than a MongoDB-compatible server holds, and says so', async () => {
    // Accepts connections and never answers: not ours, not compatible.
    const sockets = new Set<Socket>();
    const squatter: Server = createServer((socket) => sockets.add(socket.on('error', () => {})));
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', () => resolve()));
    const { port } = squatter.address() as { port: number };
    try {
      const run = await runServices([], { ...envWithout('DATABASE_URL', 'MONGO_URL'), OUTBOX_RELAY_NO_DOCKER: '1', OUTBOX_RELAY_FERRETDB_PORT: String(port) });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`127.0.0.1:${port} accepts connections but does not answer as a MongoDB-compatible server`);
      expect(squatter.listening).toBe(true);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });

  // A FerretDB of the test's own (free port, own state folder, the binary
  // scripts/ferretdb.sh builds): other test files share the one on 27017, and
  // stopping it under them would fail their outage-sensitive assertions.
  it.runIf(testsLocalPath)('down stops the FerretDB it started (not PostgreSQL) and up brings it back', async () => {
    const port = await closedPort();
    const stateDir = mkdtempSync(join(tmpdir(), 'outbox-relay-services-test-'));
    const env = { ...envWithout('DATABASE_URL', 'MONGO_URL'), OUTBOX_RELAY_NO_DOCKER: '1', OUTBOX_RELAY_FERRETDB_PORT: String(port), OUTBOX_RELAY_FERRETDB_STATE_DIR: stateDir };
    const sharedBefore = ourFerretDbPid(27017);
    try {
      const before = await runServices([], env);
      expect(before.code, before.stderr).toBe(0);
      const { DATABASE_URL, MONGO_URL } = await evalInShell(before.stdout);
      expect(MONGO_URL).toBe(`mongodb://127.0.0.1:${port}/`);
      const pid = ourFerretDbPid(port, stateDir);
      expect(pid, 'the FerretDB on the test port was not started by scripts/services.ts').toBeDefined();

      const down = await runServices(['down'], env);
      expect(down.code, down.stderr).toBe(0);
      expect(down.stderr).toContain(`ferretdb (pid ${pid})`);
      // Exited: a zombie its new parent (init) has not reaped yet runs no more than a reaped process.
      expect(processRunning(pid!), 'the FerretDB process survived down').toBe(false);
      expect(await mongoReachable(MONGO_URL, 1000)).toBeDefined();

      const up = await runServices(['up'], env);
      expect(up.code, up.stderr).toBe(0);
      // The same DATABASE_URL and MONGO_URL; PgBouncer, stopped by down too, comes back on a free port.
      const withoutBouncer = (out: string) => out.split('\n').filter((line) => !line.startsWith('export PGBOUNCER_URL=')).join('\n');
      expect(withoutBouncer(up.stdout)).toBe(withoutBouncer(before.stdout));
      expect(up.stdout).toMatch(/^export PGBOUNCER_URL=/m);
      expect(down.stderr).toMatch(/pgbouncer \(pid \d+\)/);
      const restarted = ourFerretDbPid(port, stateDir);
      expect(restarted).toBeDefined();
      expect(restarted).not.toBe(pid);
      expect(await mongoReachable(MONGO_URL)).toBeUndefined();
      expect(await postgresReachable(DATABASE_URL), 'down must never stop PostgreSQL').toBeUndefined();
      console.info(`services down: ${down.ms} ms; cold up: ${up.ms} ms`);
    } finally {
      await runServices(['down'], env);
      rmSync(stateDir, { recursive: true, force: true });
    }
    // The shared FerretDB was never touched (when this script runs it at all).
    expect(ourFerretDbPid(27017)).toBe(sharedBefore);
  });

  // See scripts/ferretdbIdIndex.ts: without it every fenced upsert scans its whole collection.
  it.runIf(testsLocalPath)('the local FerretDB backs every new collection with an _id index its pushed-down filter can use, and plans every query with its values', async () => {
    const env = { ...envWithout('DATABASE_URL', 'MONGO_URL'), OUTBOX_RELAY_NO_DOCKER: '1' };
    const run = await runServices([], env);
    expect(run.code, run.stderr).toBe(0);
    const { MONGO_URL } = await evalInShell(run.stdout);
    const dbName = `services_id_index_${process.pid}`;
    const mongo = new MongoClient(MONGO_URL);
    const backendUrl = new URL(process.env.OUTBOX_RELAY_LOCAL_PG_URL || DEFAULT_LOCAL_PG);
    backendUrl.pathname = `/${FERRET_BACKEND_DB}`;
    const backend = new pg.Client({ connectionString: backendUrl.toString() });
    await backend.connect();
    try {
      await mongo.db(dbName).collection('transaction_metadata').insertOne({ _id: 'doc-1' as never, version: 1 });
      const { rows: tables } = await backend.query<{ name: string }>(
        `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'transaction_metadata%'`,
        [dbName],
      );
      expect(tables).toHaveLength(1);
      // GIN without a pending list: lookups must not scan recent inserts one by one.
      const { rows: gin } = await backend.query<{ options: string[] | null }>(
        `SELECT c.reloptions AS options FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
          WHERE i.indrelid = $1::regclass AND am.amname = 'gin'`,
        [tables[0]!.name],
      );
      expect(gin.map((r) => r.options)).toEqual([['fastupdate=off']]);
      // FerretDB's prepared statements name the key as $1: only a custom plan can use the index.
      expect((await backend.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode')).rows[0]?.plan_cache_mode).toBe('force_custom_plan');
      await backend.query('BEGIN');
      await backend.query('SET LOCAL enable_seqscan = off');
      // The filter FerretDB 1.24 sends for { _id: "doc-1" } (postgresql/query.go, filterEqual).
      const { rows: plan } = await backend.query<{ 'QUERY PLAN': string }>(`EXPLAIN SELECT _jsonb FROM ${tables[0]!.name} WHERE _jsonb -> '_id' @> '"doc-1"'`);
      await backend.query('ROLLBACK');
      expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Bitmap Index Scan on \S+/);
    } finally {
      await mongo.db(dbName).dropDatabase().catch(() => {});
      await mongo.close();
      await backend.end();
    }
  });
});
