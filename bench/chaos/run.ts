/**
 * `npm run chaos [-- --quick] [--seed N]`: three relay processes, a writer
 * and a seeded fault loop (kill -9, SIGSTOP past the lease, MongoDB cut via a
 * TCP proxy, a stop and restart of the MongoDB-compatible server when the run
 * owns one, pg_terminate_backend on the relays' connections, a burst of
 * postings), then a drain, reconcile() and an independent check. Prints the
 * seed first; writes bench/chaos/results/<timestamp>.json; exits 1 when a
 * must-be-zero figure is not zero (2 when the run itself could not run).
 *
 * PostgreSQL: a cluster of the run's own (scripts/ownPostgres.ts) when this
 * machine can make one, so `pg-restart` is a real restart; else DATABASE_URL's
 * server. With --pgbouncer the relays, the writer and the migration go
 * through a PgBouncer the run starts (transaction pooling, pool size 4);
 * LISTEN and the run's own checks go direct.
 *
 * Flags: --quick (≈2 min), --seed N, --duration S (fault phase), --keep
 * (keep the databases; uses DATABASE_URL's server, not a cluster of its own),
 * --rate N (writer postings/s), --pgbouncer.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { startOwnPostgres, type OwnPostgres } from '../../scripts/ownPostgres.ts';
import { startPgBouncer, type PgBouncer } from '../../scripts/pgbouncer.ts';
import { createDb, createPool } from '../../src/db/client.ts';
import { runMigrations } from '../../src/db/migrate.ts';
import { reconcile } from '../../src/reconcile/reconcile.ts';
import type { ReconcileReport } from '../../src/reconcile/reconcileTypes.ts';
import { startTcpProxy } from '../../test/helpers/tcpProxy.ts';
import { adminUrl, withDatabase } from '../../test/helpers/urls.ts';
import { availableFaultKinds, FAULT_KINDS, runFaultLoop, type FaultKind, type FaultRecord } from './faults.ts';
import { createFleet } from './fleet.ts';
import { startDedicatedMongoServer, type MongoServer } from './mongoServer.ts';
import { createRng } from './rng.ts';
import { verify } from './verify.ts';
import { prepareAccounts, startWriter } from './writer.ts';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const LEASE_MS = 3000;
const RELAYS = 3;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seed: { type: 'string' },
    duration: { type: 'string' },
    rate: { type: 'string' },
    keep: { type: 'boolean', default: false },
    pgbouncer: { type: 'boolean', default: false },
  },
});

const seed = args.seed === undefined ? randomInt(1, 2 ** 31 - 1) : Number(args.seed);
if (!Number.isInteger(seed) || seed < 0) usage(`--seed takes a whole number (got ${args.seed})`);
console.log(`chaos seed: ${seed}   (replay with: npm run chaos -- ${args.quick ? '--quick ' : ''}--seed ${seed})`);

const quick = args.quick === true;
const faultPhaseMs = (args.duration === undefined ? (quick ? 75 : 300) : Number(args.duration)) * 1000;
const rate = args.rate === undefined ? 40 : Number(args.rate);
if (!(faultPhaseMs > 0) || !(rate > 0)) usage('--duration and --rate take positive numbers');
const burstSize = quick ? 1000 : 5000;
const drainTimeoutMs = quick ? 60_000 : 180_000;

const databaseUrlBase = process.env.DATABASE_URL;
const mongoUrl = process.env.MONGO_URL;
if (!databaseUrlBase || !mongoUrl) usage('DATABASE_URL and MONGO_URL must be set (scripts/chaos.sh sets them from scripts/services.ts)');

function usage(message: string): never {
  console.error(`chaos: ${message}`);
  process.exit(2);
}

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 23)}] ${line}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** MONGO_URL with another host:port, keeping its options (replicaSet, credentials…). */
function withHost(url: string, host: string): string {
  const parsed = new URL(url);
  parsed.host = host;
  return parsed.toString();
}

function describeMongoServer(server: MongoServer | undefined): string {
  return server ? `dedicated FerretDB on :${server.port} (restartable)` : 'MONGO_URL (not restartable)';
}

async function main(): Promise<number> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const name = `outbox_relay_chaos_${seed}_${randomBytes(2).toString('hex')}`;
  const rng = createRng(seed);
  mkdirSync(RESULTS, { recursive: true });
  let ownPostgres: OwnPostgres | undefined;
  if (!args.keep) {
    ownPostgres = await startOwnPostgres({ log }).catch((error: unknown) => {
      log(`PostgreSQL: no cluster of our own (${error instanceof Error ? error.message : String(error)}); using DATABASE_URL's server, pg-restart ${args.pgbouncer ? 'becomes PgBouncer KILL + terminate' : 'is left out'}`);
      return undefined;
    });
  }
  const serverUrl = ownPostgres ? ownPostgres.url('postgres') : (databaseUrlBase as string);
  // The run's own checks (monitor, verify, faults) always go direct.
  const databaseUrl = withDatabase(serverUrl, name);
  let pgbouncer: PgBouncer | undefined;
  if (args.pgbouncer) {
    const target = new URL(serverUrl);
    pgbouncer = await startPgBouncer({ target: { host: target.hostname, port: Number(target.port || 5432) }, poolMode: 'transaction', defaultPoolSize: 4, log });
  }
  // What the relays and the writer use for DATABASE_URL.
  const pooledUrl = pgbouncer ? pgbouncer.url(name, decodeURIComponent(new URL(serverUrl).username) || 'postgres') : databaseUrl;
  const describePostgres = `${ownPostgres ? `the run's own cluster on :${ownPostgres.port} (restartable)` : 'DATABASE_URL\'s server'}${pgbouncer ? `, DATABASE_URL through PgBouncer :${pgbouncer.port} (transaction pooling, pool size 4), LISTEN direct` : ''}`;

  const admin = new pg.Client({ connectionString: adminUrl(serverUrl), application_name: 'chaos-admin' });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  log(`database ${name} created (PostgreSQL and MongoDB); PostgreSQL: ${describePostgres}`);
  await runMigrations(pooledUrl);

  const mongoServer = await startDedicatedMongoServer(mongoUrl as string, `${RESULTS}${stamp}-ferretdb.log`);
  if (mongoServer) log(`MongoDB-compatible server: ${describeMongoServer(mongoServer)}, pid ${mongoServer.pid}, log ${RESULTS}${stamp}-ferretdb.log`);
  else log('MongoDB-compatible server: MONGO_URL is not the local FerretDB scripts/services.ts started, so mongo-restart is left out (this run cannot stop a server it does not own)');
  // The relays' MongoDB: the dedicated server when there is one, else MONGO_URL's server; always through the proxy (mongo-cut).
  const relaysMongoUrl = mongoServer ? withHost(mongoUrl as string, `127.0.0.1:${mongoServer.port}`) : (mongoUrl as string);
  const mongoTarget = new URL(relaysMongoUrl);
  const proxy = await startTcpProxy(mongoTarget.hostname, Number(mongoTarget.port || 27017));
  const proxiedMongo = new URL(relaysMongoUrl);
  proxiedMongo.host = `127.0.0.1:${proxy.port}`;
  if (!proxiedMongo.searchParams.has('directConnection')) proxiedMongo.searchParams.set('directConnection', 'true');

  const pool = createPool(pooledUrl, { max: 12, applicationName: 'chaos-writer' });
  const db = createDb(pool);
  // A pool, not a client: pg-restart cuts every connection, and a pool reconnects.
  const monitor = createPool(databaseUrl, { max: 2, applicationName: 'chaos-monitor' });
  // Verification reads the relays' server directly (not through the proxy). Not the shared FerretDB on
  // MONGO_URL even though it has the same backend: FerretDB 1.x loads its collection catalog once per
  // process, so a database created through another FerretDB stays invisible (empty) through it.
  const mongo = new MongoClient(relaysMongoUrl, { serverSelectionTimeoutMS: 10_000 });
  await mongo.connect();
  const mongoDb = mongo.db(name.slice(0, 63));

  const fleet = createFleet({
    size: RELAYS,
    logFile: `${RESULTS}${stamp}-relays.log`,
    env: {
      DATABASE_URL: pooledUrl,
      OUTBOX_RELAY_LISTEN_DATABASE_URL: databaseUrl,
      MONGO_URL: proxiedMongo.toString(),
      MONGO_DB: name.slice(0, 63),
      OUTBOX_RELAY_LEASE_MS: String(LEASE_MS),
      OUTBOX_RELAY_POLL_INTERVAL_MS: '500',
      OUTBOX_RELAY_HEARTBEAT_MS: '1000',
      OUTBOX_RELAY_BATCH_SIZE: '200',
      OUTBOX_RELAY_BACKOFF_BASE_MS: '100',
      OUTBOX_RELAY_BACKOFF_MAX_MS: '2000',
      OUTBOX_RELAY_SINK_RETRIES: '2',
      OUTBOX_RELAY_SHUTDOWN_TIMEOUT_MS: '3000',
      OUTBOX_RELAY_POOL_SIZE: '4',
      OUTBOX_RELAY_OPS_PORT: 'off',
      OUTBOX_RELAY_LOG_LEVEL: 'info',
    },
  });

  let maxPending = 0;
  let maxLagSeconds = 0;
  let samples = 0;
  let sampleErrors = 0;
  let lastPending = -1;
  const sampler = setInterval(() => {
    monitor
      .query<{ pending_count: string; oldest_pending_seconds: number | null }>('SELECT pending_count, oldest_pending_seconds FROM outbox_lag')
      .then(({ rows }) => {
        const row = rows[0];
        if (!row) return;
        samples++;
        lastPending = Number(row.pending_count);
        maxPending = Math.max(maxPending, lastPending);
        maxLagSeconds = Math.max(maxLagSeconds, row.oldest_pending_seconds ?? 0);
      })
      .catch(() => sampleErrors++);
  }, 500);

  let exitCode = 2;
  let cleanedUp = false;
  const cleanup = async () => {
    if (cleanedUp) return;
    cleanedUp = true;
    clearInterval(sampler);
    await fleet.stop().catch(() => {});
    await proxy.close().catch(() => {});
    await Promise.allSettled([pool.end(), monitor.end(), args.keep ? Promise.resolve() : mongoDb.dropDatabase()]);
    await mongo.close().catch(() => {});
    await mongoServer?.close().catch(() => {}); // after dropDatabase, which goes through it
    await pgbouncer?.stop().catch(() => {});
    if (ownPostgres) await ownPostgres.stop().catch(() => {}); // the whole cluster goes, database included
    else if (!args.keep) {
      const dropper = new pg.Client({ connectionString: adminUrl(serverUrl), application_name: 'chaos-admin' });
      await dropper.connect();
      await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).finally(() => dropper.end());
    } else log(`kept databases: PostgreSQL ${name}, MongoDB ${name.slice(0, 63)}`);
  };
  process.once('SIGINT', () => {
    fleet.resumeAll();
    void cleanup().finally(() => process.exit(130));
  });

  try {
    const accounts = await prepareAccounts(db, 50);
    await fleet.start();
    log(`${RELAYS} relays started (lease ${LEASE_MS} ms, MongoDB through proxy :${proxy.port} to ${describeMongoServer(mongoServer)}); writer at ${rate}/s; faults for ${faultPhaseMs / 1000} s`);
    const writer = startWriter(db, { ratePerSecond: rate, accounts, concurrency: 4, updateShare: 0.25 });

    const phaseStarted = Date.now();
    const { faults, background } = await runFaultLoop({
      rng,
      fleet,
      proxy,
      mongoServer,
      writer,
      adminUrl: adminUrl(serverUrl),
      ownPostgres,
      pgbouncer,
      database: name,
      leaseMs: LEASE_MS,
      durationMs: faultPhaseMs,
      burstSize,
      repeatBursts: !quick,
      onFault: (f) => log(`fault ${f.kind}: ${f.detail}  (pending ${lastPending})`),
    });
    fleet.resumeAll();
    await writer.stop();
    await background; // a burst still running finishes before the drain is timed
    log(`faults stopped after ${Math.round((Date.now() - phaseStarted) / 1000)} s; writer stopped: ${writer.stats.postings} postings, ${writer.stats.metadataUpdates} metadata updates, ${writer.stats.errors} writer errors${writer.stats.lastError ? ` (last: ${writer.stats.lastError})` : ''}`);

    const drainStarted = Date.now();
    let drained = false;
    while (Date.now() - drainStarted < drainTimeoutMs) {
      const { rows } = await monitor.query<{ pending_count: string }>('SELECT pending_count FROM outbox_lag');
      if (Number(rows[0]?.pending_count) === 0) {
        drained = true;
        break;
      }
      await sleep(100);
    }
    const drainMs = Date.now() - drainStarted;
    clearInterval(sampler);
    log(drained ? `drained in ${drainMs} ms` : `NOT drained after ${drainMs} ms`);
    await fleet.stop();
    // A relay resumed after SIGSTOP finds its rows reclaimed: its late "delivered" is refused (fenced by claimed_by).
    const relayLog = readFileSync(`${RESULTS}${stamp}-relays.log`, 'utf8');
    const staleFinishesFenced = relayLog.split('\n').filter((l) => l.includes('reclaimed by another relay')).length;

    const report: ReconcileReport = await reconcile({ db, mongoDb }, { pendingOlderThanSeconds: 1 });
    const independent = await verify(monitor, mongoDb);
    const counts = await monitor.query<{ postings: number; events: number }>(
      `SELECT (SELECT count(*)::int FROM "transaction") AS postings, (SELECT count(*)::int FROM outbox)+(SELECT count(*)::int FROM outbox_delivered) AS events`,
    );

    const byKind = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
    for (const f of faults) byKind[f.kind]++;
    const mustBeZero = {
      eventsLost: independent.eventsLost,
      documentsWrong: independent.documentsWrong,
      eventsDead: independent.eventsDead,
      duplicateEffects: independent.duplicateEffects,
      reconcileProblems: Object.values(report.checks).reduce((sum, c) => sum + (c?.problems ?? 0), 0),
      relaysCrashedByThemselves: fleet.unexpectedExits.length,
    };
    const ok = drained && Object.values(mustBeZero).every((n) => n === 0);
    const result = {
      seed,
      quick,
      ok,
      startedAt: new Date(phaseStarted).toISOString(),
      faultPhaseSeconds: faultPhaseMs / 1000,
      relays: RELAYS,
      leaseMs: LEASE_MS,
      mongoServer: describeMongoServer(mongoServer),
      postgres: describePostgres,
      faultKinds: availableFaultKinds({ mongoServer, ownPostgres, pgbouncer }),
      postingsCommitted: counts.rows[0]?.postings ?? 0,
      metadataUpdates: writer.stats.metadataUpdates,
      eventsCommitted: counts.rows[0]?.events ?? 0,
      writerErrors: writer.stats.errors,
      faultsByKind: byKind,
      faults: faults satisfies FaultRecord[],
      maxLagSeconds: Math.round(maxLagSeconds * 1000) / 1000,
      maxPending,
      lagSamples: samples,
      lagSampleErrors: sampleErrors,
      drained,
      drainMs,
      staleFinishesFenced,
      ...mustBeZero,
      independentCheck: independent,
      reconcile: { ok: report.ok, durationMs: report.durationMs, checks: report.checks },
      unexpectedRelayExits: fleet.unexpectedExits,
    };
    const file = `${RESULTS}${stamp}.json`;
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(
      [
        '',
        `seed ${seed}${quick ? ' (quick)' : ''}: ${ok ? 'OK' : 'FAILED'}`,
        `postings committed ${result.postingsCommitted}, metadata updates ${result.metadataUpdates}, events committed ${result.eventsCommitted}, writer errors ${result.writerErrors}`,
        `MongoDB-compatible server the relays used: ${describeMongoServer(mongoServer)}`,
        `PostgreSQL: ${describePostgres}`,
        `faults: ${FAULT_KINDS.map((k) => `${k} ${availableFaultKinds({ mongoServer, ownPostgres, pgbouncer }).includes(k) ? byKind[k] : 'n/a'}`).join(', ')}`,
        `max lag ${result.maxLagSeconds} s (max pending ${maxPending}, ${samples} samples every 500 ms); drain after faults stopped ${drainMs} ms`,
        `late finishes of paused relays fenced out: ${staleFinishesFenced}`,
        `events lost ${mustBeZero.eventsLost}, documents wrong ${mustBeZero.documentsWrong}, events dead ${mustBeZero.eventsDead}, duplicate effects ${mustBeZero.duplicateEffects} (documents by another event ${independent.duplicateDocumentEvents}, extra deliveries ${independent.duplicateDeliveries})`,
        `reconcile: ${report.ok ? 'clean' : 'PROBLEMS'} (${Object.entries(report.checks).map(([k, c]) => `${k} ${c?.problems}`).join(', ')}); entities checked ${independent.entitiesChecked}`,
        ...(independent.samples.length ? ['samples:', ...independent.samples.map((s) => `  ${s}`)] : []),
        ...(fleet.unexpectedExits.length ? ['relays that exited by themselves:', ...fleet.unexpectedExits.map((s) => `  ${s}`)] : []),
        `written ${file}`,
      ].join('\n'),
    );
    exitCode = ok ? 0 : 1;
  } catch (error) {
    console.error('chaos: the run itself failed:', error);
    exitCode = 2;
  } finally {
    await cleanup();
  }
  return exitCode;
}

process.exit(await main());
