/**
 * The package as a new user gets it: `npm pack` (which builds dist/ through
 * prepack), the tarball installed into a fresh app outside the repository
 * (a real copy in node_modules, no link), then in that app: the CLI migrates
 * a fresh database, a plain ESM JavaScript writer posts a transaction, the
 * relay from the package delivers it, `status`/`dead`/`reconcile` answer, and
 * a strict `nodenext` TypeScript app type-checks against the shipped typings.
 * The Dockerfile is checked against the same build.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { checkPackageFiles, type PackageManifest } from '../../scripts/checkPackageFiles.ts';
import { readDockerfile } from '../helpers/dockerfile.ts';
import { adminUrl, withDatabase } from '../helpers/urls.ts';
import { waitFor } from '../helpers/waitFor.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
const SETUP_TIMEOUT_MS = 600_000;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The child environment: this run's Node 24 first on PATH (npx and the
 * package's `#!/usr/bin/env node` bin must not find an older system node),
 * and none of the npm_* variables `npm test` sets, which would point a child
 * npm at this repository.
 */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(key) && key !== 'INIT_CWD' && !key.startsWith('OUTBOX_RELAY_') && !['DATABASE_URL', 'MONGO_URL', 'MONGO_DB'].includes(key)) env[key] = value;
  }
  env.PATH = [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter);
  return { ...env, OUTBOX_RELAY_LOG_FORMAT: 'json', ...extra };
}

function run(command: string, args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: childEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function ok(result: Result, what: string): Result {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
  return result;
}

interface Packed {
  tarball: string;
  files: string[];
  size: number;
  unpackedSize: number;
}

let root: string;
let app: string;
let packed: Packed;
let databaseUrl: string;
let mongoUrl: string;
const dbName = `outbox_relay_consumer_${process.pid}_${randomBytes(3).toString('hex')}`;
const timings: Record<string, number> = {};

async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    timings[name] = Math.round(performance.now() - start);
  }
}

const started = performance.now();

beforeAll(async () => {
  const services = inject('services');
  mongoUrl = services.mongoUrl;
  root = mkdtempSync(join(tmpdir(), 'outbox-relay-consumer-'));
  app = join(root, 'app');
  mkdirSync(app);

  const pack = await timed('npm pack (with the prepack build)', async () =>
    ok(await run('npm', ['pack', '--json', '--pack-destination', root], { cwd: REPO, timeoutMs: SETUP_TIMEOUT_MS }), 'npm pack'),
  );
  const [info] = JSON.parse(pack.stdout) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  if (!info) throw new Error(`npm pack printed no result: ${pack.stdout}`);
  packed = { tarball: join(root, info.filename), files: info.files.map((f) => f.path), size: info.size, unpackedSize: info.unpackedSize };

  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer-app', version: '1.0.0', private: true, type: 'module' }, null, 2));
  await timed('npm install of the tarball', async () =>
    ok(
      await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', packed.tarball], { cwd: app, timeoutMs: SETUP_TIMEOUT_MS }),
      'npm install',
    ),
  );

  // A fresh, empty database: the package's own CLI migrates it.
  const admin = new pg.Client({ connectionString: adminUrl(services.databaseUrl) });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${dbName}"`);
  } finally {
    await admin.end();
  }
  databaseUrl = withDatabase(services.databaseUrl, dbName);
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  const total = Math.round(performance.now() - started);
  console.info(`consumer test timings (ms): ${JSON.stringify({ ...timings, total })}`);
  if (databaseUrl) {
    const admin = new pg.Client({ connectionString: adminUrl(databaseUrl) });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    } finally {
      await admin.end();
    }
    const mongo = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 10_000 });
    await mongo.db(dbName).dropDatabase().catch(() => {});
    await mongo.close();
  }
  if (root) rmSync(root, { recursive: true, force: true });
}, 60_000);

const cli = (args: string[], env: Record<string, string> = {}) =>
  run('npx', ['--no-install', 'outbox-relay', ...args], { cwd: app, env: { DATABASE_URL: databaseUrl, MONGO_URL: mongoUrl, MONGO_DB: dbName, ...env } });

describe('the npm package, installed into a fresh app', () => {
  it('ships only dist/, the migrations, README, LICENSE and CHANGELOG: no test/, bench/, scripts/ or .ci/', () => {
    expect(packed.files.filter((p) => /^(test|bench|scripts|\.ci|src|docs|ops)\//.test(p))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as PackageManifest;
    expect(checkPackageFiles(packed.files, manifest)).toEqual({ unexpected: [], missing: [] });
    // A real copy in node_modules, not a link back into the repository.
    expect(lstatSync(join(app, 'node_modules', 'outbox-relay')).isSymbolicLink()).toBe(false);
    console.info(`tarball: ${packed.files.length} files, ${packed.size} bytes packed, ${packed.unpackedSize} unpacked`);
  });

  it('npx outbox-relay --help exits 0 and lists the commands', async () => {
    const help = ok(await cli(['--help']), 'outbox-relay --help');
    for (const command of ['run', 'migrate', 'status', 'dead', 'reconcile']) expect(help.stdout).toContain(command);
  });

  it('migrates a fresh database with the migrations inside the package, from a folder without any', async () => {
    expect(existsSync(join(app, 'drizzle'))).toBe(false);
    const migrate = ok(await cli(['migrate']), 'outbox-relay migrate');
    expect(migrate.stderr).toMatch(/migrations applied/);
  });

  it('a plain ESM JavaScript app posts a transaction through the package, on Node 24, without loading drizzle-orm', async () => {
    // Records every module the app resolves, before the app's static imports run.
    writeFileSync(
      join(app, 'record-modules.mjs'),
      `import { registerHooks } from 'node:module';
globalThis.__loaded = [];
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); globalThis.__loaded.push(r.url); return r; } });
`,
    );
    writeFileSync(
      join(app, 'writer.mjs'),
      `import { createBalance, createPool, postTransaction, ValidationError } from 'outbox-relay';
import pkg from 'outbox-relay/package.json' with { type: 'json' };

const rssAfterImport = process.memoryUsage().rss;
const pool = createPool(process.env.DATABASE_URL, { max: 2 });
try {
  await createBalance(pool, { account: 'world', asset: 'EUR', allowNegative: true });
  await createBalance(pool, { account: 'alice', asset: 'EUR' });
  const result = await postTransaction(pool, {
    idempotencyKey: 'consumer-1',
    description: 'first posting from an installed package',
    metadata: { source: 'consumer-app' },
    entries: [
      { account: 'world', asset: 'EUR', direction: 'debit', amount: '1500' },
      { account: 'alice', asset: 'EUR', direction: 'credit', amount: '1500', metadata: { note: 'welcome' } },
    ],
  });
  let refused = null;
  try {
    await postTransaction(pool, { idempotencyKey: 'consumer-2', entries: [] });
  } catch (error) {
    refused = error instanceof ValidationError ? error.code : String(error);
  }
  const loaded = globalThis.__loaded;
  console.log(JSON.stringify({
    node: process.version,
    version: pkg.version,
    result,
    refused,
    rssAfterImport,
    packageUrls: loaded.filter((u) => u.includes('/node_modules/outbox-relay/')).length,
    drizzle: loaded.filter((u) => u.includes('/drizzle-orm/')),
    outsideApp: loaded.filter((u) => u.startsWith('file:') && !u.startsWith(${JSON.stringify(`file://${app}/`)})),
  }));
} finally {
  await pool.end();
}
`,
    );
    const writer = ok(await run(process.execPath, ['--import', './record-modules.mjs', 'writer.mjs'], { cwd: app, env: { DATABASE_URL: databaseUrl } }), 'writer.mjs');
    const out = JSON.parse(writer.stdout.trim().split('\n').pop() ?? '{}') as {
      node: string;
      version: string;
      result: { transactionId: string; operationIds: string[]; created: boolean };
      refused: string | null;
      rssAfterImport: number;
      packageUrls: number;
      drizzle: string[];
      outsideApp: string[];
    };
    expect(out.node).toBe(process.version);
    expect(out.version).toBe((JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version);
    expect(out.result).toMatchObject({ created: true, operationIds: [expect.any(String), expect.any(String)] });
    expect(out.refused).toBe('INVALID_REQUEST');
    expect(out.packageUrls).toBeGreaterThan(5);
    expect(out.drizzle).toEqual([]);
    // Everything came from the app's own node_modules: nothing from the repository.
    expect(out.outsideApp).toEqual([]);
    console.info(`plain-pg writer RSS after import: ${(out.rssAfterImport / 1048576).toFixed(1)} MiB`);

    const check = new pg.Client({ connectionString: databaseUrl });
    await check.connect();
    try {
      const { rows } = await check.query<{ n: string }>(`SELECT count(*) AS n FROM outbox WHERE aggregate_id = ANY($1::text[])`, [[out.result.transactionId, ...out.result.operationIds]]);
      expect(Number(rows[0]?.n)).toBe(2);
    } finally {
      await check.end();
    }
  });

  it("a drizzle user gets createDb and the schema from 'outbox-relay/drizzle', and enqueues inside a drizzle transaction", async () => {
    writeFileSync(
      join(app, 'drizzle-writer.mjs'),
      `import { createPool, enqueue } from 'outbox-relay';
import { createDb, schema } from 'outbox-relay/drizzle';

const pool = createPool(process.env.DATABASE_URL, { max: 2 });
try {
  const db = createDb(pool);
  const queued = await db.transaction((tx) => enqueue(tx, { aggregateType: 'customer', aggregateId: 'c-1', version: 1, payload: { metadata: { tier: 'gold' } } }));
  const accounts = (await db.select({ account: schema.balance.account }).from(schema.balance)).map((r) => r.account).sort();
  console.log(JSON.stringify({ queued, accounts }));
} finally {
  await pool.end();
}
`,
    );
    const out = JSON.parse(ok(await run(process.execPath, ['drizzle-writer.mjs'], { cwd: app, env: { DATABASE_URL: databaseUrl } }), 'drizzle-writer.mjs').stdout) as {
      queued: { id: number; eventId: string };
      accounts: string[];
    };
    expect(out.queued.id).toBeGreaterThan(0);
    expect(out.accounts).toEqual(['alice', 'world']);
  });

  it('status --json and dead list exit 0 and show the pending events', async () => {
    const status = ok(await cli(['status', '--json']), 'outbox-relay status --json');
    expect(JSON.parse(status.stdout)).toMatchObject({ pendingCount: 3, deadCount: 0, lastReconcile: null });
    const dead = ok(await cli(['dead', 'list', '--json']), 'outbox-relay dead list --json');
    expect(JSON.parse(dead.stdout)).toEqual([]);
  });

  it('run delivers the events to MongoDB, serves its ops endpoint and console page, and stops on SIGTERM; reconcile then finds nothing wrong', async () => {
    // The installed bin itself (what npx runs), so SIGTERM reaches the relay and not an npm in between.
    const child = spawn(join(app, 'node_modules', '.bin', 'outbox-relay'), ['run'], {
      cwd: app,
      // The ops endpoint on, as by default (a free port here): it serves the console page, which the build copies into dist/.
      env: childEnv({ DATABASE_URL: databaseUrl, MONGO_URL: mongoUrl, MONGO_DB: dbName, OUTBOX_RELAY_OPS_PORT: '0', OUTBOX_RELAY_POLL_INTERVAL_MS: '200' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`relay exited ${child.exitCode}: ${output}`);
          const status = await cli(['status', '--json']);
          return status.code === 0 && (JSON.parse(status.stdout) as { pendingCount: number }).pendingCount === 0;
        },
        { timeoutMs: 90_000, intervalMs: 500, message: 'the relay from the package delivered both events' },
      );
      const opsUrl = /"url":"(http:[^"]+)","msg":"ops endpoint listening"/.exec(output)?.[1];
      expect(opsUrl, output).toBeDefined();
      const page = await fetch(`${opsUrl}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain('<script>');
      expect(await (await fetch(`${opsUrl}/metrics`)).text()).toContain('outbox_relay_');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, output).toBe(0);
    const reconcile = await cli(['reconcile']);
    expect(reconcile.code, `${reconcile.stdout}\n${reconcile.stderr}`).toBe(0);
  });

  it('run --multi-tenant from the installed bin: a scoped token sees and pauses only its tenant (403 on the other, nothing written); audit --tenant names the tenant; a scoped token without --multi-tenant stops the start with a config error', async () => {
    const services = inject('services');
    const ids = ['ta', 'tb'];
    const tenantUrls = ids.map((id) => withDatabase(services.databaseUrl, `${dbName}_${id}`));
    const admin = new pg.Client({ connectionString: adminUrl(services.databaseUrl) });
    await admin.connect();
    try {
      for (const id of ids) await admin.query(`CREATE DATABASE "${dbName}_${id}"`);
    } finally {
      await admin.end();
    }
    const ROOT = 'consumer-root-token-0123456789';
    const SCOPED = 'consumer-scoped-token-012345678';
    const tokens = `root=${ROOT},acme=${SCOPED}@ta`;
    try {
      for (const [i, id] of ids.entries()) {
        ok(await cli(['migrate', '--database-url', tenantUrls[i] as string]), `migrate ${id}`);
        // The control database is this app's database (migrated above): DATABASE_URL.
        ok(await cli(['tenant', 'add', id, '--database-url', tenantUrls[i] as string, '--mongo-db', `${dbName}_${id}`]), `tenant add ${id}`);
      }
      const refused = await cli(['run'], { OUTBOX_RELAY_OPS_TOKENS: tokens, OUTBOX_RELAY_OPS_PORT: '0' });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('OUTBOX_RELAY_OPS_TOKENS');
      expect(refused.stderr).toContain('--multi-tenant');
      expect(refused.stderr).not.toContain(SCOPED);

      const child = spawn(join(app, 'node_modules', '.bin', 'outbox-relay'), ['run', '--multi-tenant'], {
        cwd: app,
        env: childEnv({ DATABASE_URL: databaseUrl, MONGO_URL: mongoUrl, OUTBOX_RELAY_OPS_PORT: '0', OUTBOX_RELAY_OPS_TOKENS: tokens, OUTBOX_RELAY_HEARTBEAT_MS: '500', OUTBOX_RELAY_LEASE_MS: '3000' }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      try {
        const opsUrl = await waitFor(() => {
          if (child.exitCode !== null) throw new Error(`relay exited ${child.exitCode}: ${output}`);
          return /"url":"(http:[^"]+)","msg":"ops endpoint listening"/.exec(output)?.[1];
        }, { timeoutMs: 60_000, message: 'the multi-tenant relay serves its ops endpoint' });
        const get = async (path: string, token: string) => {
          const res = await fetch(`${opsUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
          return { status: res.status, body: (await res.json()) as any };
        };
        const post = async (path: string, token: string, body: unknown) => {
          const res = await fetch(`${opsUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
          return { status: res.status, body: (await res.json()) as any };
        };
        await waitFor(async () => (await get('/api/tenants', ROOT)).body.tenants.every((t: { state: string }) => t.state === 'active'), { timeoutMs: 30_000, message: 'both tenants active' });
        expect((await get('/api/tenants', SCOPED)).body.tenants.map((t: { id: string }) => t.id)).toEqual(['ta']);
        expect((await get('/api/dead?tenant=tb', SCOPED)).status).toBe(403);
        expect((await post('/api/pause?tenant=tb', SCOPED, { reason: 'not mine' })).body.error.code).toBe('TENANT_FORBIDDEN');
        expect((await get('/api/lag', SCOPED)).body.error.code).toBe('TENANT_REQUIRED');
        expect((await post('/api/pause?tenant=ta', SCOPED, { reason: 'acme maintenance' })).status).toBe(200);
        await waitFor(async () => (await get('/api/tenants', SCOPED)).body.tenants[0].state === 'paused', { timeoutMs: 20_000, message: 'ta shown paused' });
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited, output).toBe(0);
      const audit = ok(await cli(['audit', '--tenant', 'ta', '--json']), 'outbox-relay audit --tenant ta');
      expect(JSON.parse(audit.stdout)).toMatchObject([{ actor: 'acme', action: 'pause', target: '*', reason: 'acme maintenance', tenant: 'ta' }]);
      const auditB = ok(await cli(['audit', '--tenant', 'tb', '--json']), 'outbox-relay audit --tenant tb');
      expect(JSON.parse(auditB.stdout)).toEqual([]);
      const table = ok(await cli(['audit', '--tenant', 'ta']), 'outbox-relay audit --tenant ta');
      expect(table.stdout).toMatch(/ta\s+acme\s+pause/);
    } finally {
      const cleanup = new pg.Client({ connectionString: adminUrl(services.databaseUrl) });
      await cleanup.connect();
      try {
        for (const id of ids) await cleanup.query(`DROP DATABASE IF EXISTS "${dbName}_${id}" WITH (FORCE)`);
      } finally {
        await cleanup.end();
      }
    }
  });

  it('a strict nodenext TypeScript app type-checks against the shipped typings, and a type error in it is reported', async () => {
    const tsconfig = {
      compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2023', skipLibCheck: true, noEmit: true },
      files: ['app.ts'],
    };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
    writeFileSync(
      join(app, 'app.ts'),
      `import { createPool, enqueue, postTransaction, readLag, OutboxRelayError, type DbLike, type OutboxLag, type PostingRequest, type PostingResult } from 'outbox-relay';
import { createDb, schema, type Db } from 'outbox-relay/drizzle';

const request: PostingRequest = {
  idempotencyKey: 'ts-1',
  entries: [
    { account: 'world', asset: 'EUR', direction: 'debit', amount: 10n },
    { account: 'alice', asset: 'EUR', direction: 'credit', amount: '10' },
  ],
};

export async function post(db: DbLike): Promise<PostingResult> {
  return postTransaction(db, request);
}

export async function lagOf(url: string): Promise<OutboxLag> {
  const pool = createPool(url);
  // pg's own types reach the consumer: a Pool counts its clients in a number.
  const clients: number = pool.totalCount;
  // @ts-expect-error -- totalCount is a number; this line fails to compile if the pg types were missing (any).
  const wrong: string = pool.totalCount;
  void clients;
  void wrong;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await enqueue(client, { aggregateType: 'transaction', aggregateId: 'a', version: 1, payload: { metadata: { a: 1 } } });
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  return readLag(pool);
}

export function balances(db: Db) {
  return db.select({ account: schema.balance.account }).from(schema.balance);
}

export const db: Db = createDb(createPool('postgres://localhost/x'));

// @ts-expect-error -- 'sideways' is not a Direction.
export const bad: PostingRequest = { idempotencyKey: 'k', entries: [{ account: 'a', asset: 'EUR', direction: 'sideways', amount: 1n }] };

export function codeOf(error: unknown): string | undefined {
  return error instanceof OutboxRelayError ? error.code : undefined;
}
`,
    );
    const good = await timed('tsc on the TypeScript app', () => run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app }));
    expect(good.stdout + good.stderr).toBe('');
    expect(good.code).toBe(0);

    // The same check must be able to fail: one deliberate error.
    writeFileSync(join(app, 'broken.ts'), `import type { PostingResult } from 'outbox-relay';\nexport const result: PostingResult = { transactionId: 42, operationIds: [], created: true };\n`);
    writeFileSync(join(app, 'tsconfig.broken.json'), JSON.stringify({ ...tsconfig, files: ['app.ts', 'broken.ts'] }, null, 2));
    const broken = await run(process.execPath, [TSC, '-p', 'tsconfig.broken.json'], { cwd: app });
    expect(broken.code).not.toBe(0);
    expect(broken.stdout).toMatch(/broken\.ts\(2,\d+\): error TS2322/);
    expect(broken.stdout.match(/error TS/g)).toHaveLength(1);
  });
});

describe('the Dockerfile', () => {
  const dockerfile = readDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));

  it('copies only paths that exist after npm run build', () => {
    // npm pack above ran prepack, which is `npm run build`, the same as the build stage's RUN.
    expect(dockerfile.runs).toContain('npm run build');
    expect(dockerfile.copies.length).toBeGreaterThan(3);
    for (const copy of dockerfile.copies) {
      const workdir = copy.from === undefined ? undefined : dockerfile.workdirs.get(copy.from);
      if (copy.from !== undefined) expect(workdir, `stage ${copy.from} has a WORKDIR (line ${copy.line})`).toBeDefined();
      for (const source of copy.sources) {
        // From a stage, a path under its WORKDIR is that path in the repository (the stage copied the repository there).
        const relative = workdir === undefined ? source : source.replace(new RegExp(`^${workdir}/?`), '');
        expect(existsSync(join(REPO, relative)), `COPY ${copy.from ? `--from=${copy.from} ` : ''}${source} (line ${copy.line})`).toBe(true);
      }
    }
  });

  it("runs the package's own bin, which the tarball ships", () => {
    expect(dockerfile.entrypoint[0]).toBe('node');
    const entry = dockerfile.entrypoint[1] ?? '';
    expect(packed.files).toContain(entry);
    const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(manifest.bin['outbox-relay']).toBe(`./${entry}`);
  });
});
