#!/usr/bin/env node
/**
 * Thin command line: parse, build config, call the library. One function per command.
 * Exit codes: 0 ok, 1 failure (or reconcile found problems), 2 bad usage/config.
 */
import { userInfo } from 'node:os';
import { Command, CommanderError, Option } from 'commander';
import { isSecretSetting, resolveConfig, secretValues, SETTINGS, type ConfigOverrides, type RelayConfig } from './config.ts';
import { ConfigError, OutboxRelayError } from './errors.ts';
import { createLogger, redactUrl, scrubSecrets, type Logger } from './logger.ts';
import { CHECK_NAMES, type CheckName } from './reconcile/reconcileTypes.ts';

import type { SqlDb } from './db/sqlDb.ts';
import * as tenantCommands from './tenants/tenantCommands.ts';

// Everything that touches a database loads only in the command that uses it:
// a bad flag or value is answered at once (drizzle and the MongoDB driver
// take seconds to load on a busy machine).

type SettingKey = keyof typeof SETTINGS;

function camel(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Every setting becomes a flag; flags win over the environment. Help shows a
 * setting's default, never a secret's (nor the environment's value of one).
 */
function addSettingFlags(command: Command, keys: readonly SettingKey[]): Command {
  for (const key of keys) {
    const s = SETTINGS[key];
    const hint = isSecretSetting(s) ? ', secret: never printed' : 'default' in s ? `, default ${String(s.default)}` : '';
    command.addOption(new Option(`${s.flag} <value>`, `${s.description} [env ${s.env}${hint}]`));
  }
  return command;
}

/** Values given to secret flags on the command line (`--ops-token x` or `--ops-token=x`). */
function secretFlagValues(argv: readonly string[]): ConfigOverrides {
  const out: ConfigOverrides = {};
  for (const [key, s] of Object.entries(SETTINGS) as [SettingKey, (typeof SETTINGS)[SettingKey]][]) {
    if (!isSecretSetting(s)) continue;
    argv.forEach((arg, i) => {
      if (arg === s.flag && argv[i + 1] !== undefined) out[key] = argv[i + 1];
      else if (arg.startsWith(`${s.flag}=`)) out[key] = arg.slice(s.flag.length + 1);
    });
  }
  return out;
}

/** Every secret this invocation was given, and any `//user:password@` in a URL. */
function scrubber(argv: readonly string[]): (text: string) => string {
  const secrets = secretValues(process.env, secretFlagValues(argv));
  return (text) => scrubSecrets(text, secrets).replace(/\/\/([^:@/\s]+):[^@/\s]*@/g, '//$1:***@');
}

function overridesFrom(options: Record<string, unknown>, keys: readonly SettingKey[]): ConfigOverrides {
  const out: ConfigOverrides = {};
  for (const key of keys) {
    const value = options[camel(SETTINGS[key].flag)];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function loggerFor(config: Pick<RelayConfig, 'logLevel' | 'logFormat'>): Logger {
  const pretty = config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stderr.isTTY === true);
  return createLogger({ level: config.logLevel, pretty, secrets: secretValues(process.env, secretFlagValues(process.argv)) });
}

const ALL_KEYS = Object.keys(SETTINGS) as SettingKey[];
const DB_KEYS: SettingKey[] = ['databaseUrl', 'logLevel', 'logFormat'];
const TENANT_KEYS: SettingKey[] = ['databaseUrl', 'controlDatabaseUrl', 'logLevel', 'logFormat'];

async function withDb<T>(config: RelayConfig, fn: (db: SqlDb) => Promise<T>): Promise<T> {
  const { withPoolDb } = await import('./db/withPoolDb.ts');
  return withPoolDb(config.databaseUrl, { max: 2, applicationName: 'outbox-relay-cli', poolMode: config.poolMode }, fn);
}

async function runCommand(options: { multiTenant?: boolean } & Record<string, unknown>): Promise<void> {
  // Multi-tenant: the tenants' URLs come from the registry; only the control database is required.
  const config = resolveConfig(process.env, overridesFrom(options, ALL_KEYS), options.multiTenant ? [] : ['databaseUrl', 'mongoUrl']);
  if (options.multiTenant && !config.controlDatabaseUrl) throw new ConfigError(SETTINGS.controlDatabaseUrl.env, 'is required with --multi-tenant (or DATABASE_URL): the database holding the tenant registry');
  if (!options.multiTenant && config.opsTokens?.some((t) => t.tenants !== undefined)) {
    throw new ConfigError(SETTINGS.opsTokens.env, 'has tokens scoped to tenants (name=token@tenant): those need run --multi-tenant; a single-database relay has no tenants to scope to');
  }
  const logger = loggerFor(config);
  if (options.multiTenant) logger.info({ control: redactUrl(config.controlDatabaseUrl as string), mongo: config.mongoUrl ? redactUrl(config.mongoUrl) : null }, 'configuration resolved (multi-tenant)');
  else logger.info({ database: redactUrl(config.databaseUrl), mongo: redactUrl(config.mongoUrl), mongoDb: config.mongoDb }, 'configuration resolved');
  // OTEL_* decide; with tracing off the SDK is never loaded.
  const { loadTracing } = await import('./tracing/loadTracing.ts');
  const tracing = await loadTracing(process.env);
  if (tracing) logger.info({ traceMode: config.traceMode }, 'tracing on (OTEL_TRACES_EXPORTER)');
  const relay = options.multiTenant
    ? (await import('./runtime/multiTenantRelay.ts')).createMultiTenantRelay(config, { logger, ...(tracing ? { tracer: tracing.tracer } : {}) })
    : (await import('./relay/relay.ts')).createRelay(config, { logger, ...(tracing ? { tracer: tracing.tracer } : {}) });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now; claimed rows return when their lease runs out');
      process.exit(1);
    }
    logger.info({ signal }, 'shutting down');
    relay
      .stop()
      // Export the spans still buffered; a collector that does not answer must not hold the exit.
      .then(() => tracing && Promise.race([tracing.shutdown(), new Promise((resolve) => setTimeout(resolve, 5000).unref())]))
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await relay.start();
}

async function migrateCommand(options: { createRoles?: boolean; allTenants?: boolean } & Record<string, unknown>): Promise<void> {
  if (options.allTenants) {
    const { migrateAllTenants } = await import('./tenants/tenantCommands.ts');
    return migrateAllTenants(options, (o) => overridesFrom(o, TENANT_KEYS));
  }
  const config = resolveConfig(process.env, overridesFrom(options, DB_KEYS), ['databaseUrl']);
  const [{ runMigrations }, { readMetadataBackfill }] = await Promise.all([import('./db/migrate.ts'), import('./db/readMetadataBackfill.ts')]);
  const started = new Date();
  await runMigrations(config.databaseUrl);
  console.error('migrations applied');
  // The upgrade that moved metadata content into PostgreSQL ran just now: say what it could not fill.
  // (ran_at is the server's transaction time; allow for a client clock a little ahead.)
  const backfill = (await readMetadataBackfill(config.databaseUrl)).filter((b) => b.ranAt.getTime() >= started.getTime() - 60_000);
  for (const b of backfill) {
    console.error(
      `metadata content: ${b.aggregateType}: ${b.filled} filled from retained outbox payloads` +
        (b.missing > 0 ? `, ${b.missing} NOT filled (their payloads were pruned); MongoDB holds their only copy: run reconcile --repair to copy it back (check metadata-content)` : ', none missing'),
    );
  }
  if (options.createRoles) {
    const { createRoles } = await import('./db/createRoles.ts');
    console.error(`roles ready: ${(await createRoles(config.databaseUrl)).join(', ')}`);
  }
}

async function statusCommand(options: { json?: boolean; watch?: string | boolean; tenant?: string } & Record<string, unknown>): Promise<void> {
  if (options.tenant !== undefined) {
    const { tenantStatus } = await import('./tenants/tenantCommands.ts');
    return tenantStatus(options.tenant, options, (o) => overridesFrom(o, TENANT_KEYS));
  }
  const config = resolveConfig(process.env, overridesFrom(options, DB_KEYS), ['databaseUrl']);
  const intervalMs = options.watch === undefined || options.watch === false ? 0 : options.watch === true ? 2000 : Number(options.watch) * 1000;
  if (options.watch !== undefined && options.watch !== false && !(intervalMs >= 100)) throw usage(`--watch takes a number of seconds ≥ 0.1 (got ${String(options.watch)})`);
  const [{ readLag }, { readLastReconcileRun }, { formatLag }, { readTimeInOutbox }, { formatTimeInOutbox }] = await Promise.all([
    import('./outbox/readLag.ts'),
    import('./reconcile/recordReconcileRun.ts'),
    import('./ops/formatLag.ts'),
    import('./outbox/readTimeInOutbox.ts'),
    import('./ops/formatTimeInOutbox.ts'),
  ]);
  await withDb(config, async (db) => {
    for (;;) {
      const [lag, lastReconcile, timeInOutbox] = await Promise.all([readLag(db), readLastReconcileRun(db), readTimeInOutbox(db)]);
      if (options.json) console.log(JSON.stringify({ ...lag, timeInOutbox, lastReconcile: lastReconcile ?? null }));
      else {
        if (intervalMs) process.stdout.write('\x1b[2J\x1b[H');
        console.log(formatLag(lag));
        console.log(formatTimeInOutbox(timeInOutbox));
        console.log(
          lastReconcile
            ? `\nlast reconcile: ${lastReconcile.ok ? 'clean' : 'PROBLEMS'} at ${lastReconcile.finishedAt.toISOString()} by ${lastReconcile.ranBy}` +
                (lastReconcile.ok ? '' : ` (${Object.entries(lastReconcile.problems).filter(([, n]) => n > 0).map(([c, n]) => `${c}: ${n}`).join(', ')})`)
            : '\nlast reconcile: never',
        );
      }
      if (!intervalMs) return;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  });
}

async function deadListCommand(options: { limit: string; json?: boolean } & Record<string, unknown>): Promise<void> {
  const config = resolveConfig(process.env, { ...overridesFrom(options, DB_KEYS), ...(await forTenant(options)) }, ['databaseUrl']);
  const limit = Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw usage(`--limit takes a whole number from 1 to 100000 (got ${options.limit})`);
  const { listDead } = await import('./outbox/listDead.ts');
  await withDb(config, async (db) => {
    const dead = await listDead(db, { limit });
    if (options.json) {
      console.log(JSON.stringify(dead));
      return;
    }
    if (dead.length === 0) {
      console.log('no dead events');
      return;
    }
    console.log(['event id'.padEnd(36), 'entity'.padEnd(50), 'attempts', 'age'.padEnd(10), 'last error'].join('  '));
    for (const d of dead) {
      const entity = `${d.aggregateType}/${d.aggregateId} v${d.version}`;
      const age = `${Math.round(d.ageSeconds)} s`;
      console.log([d.eventId, entity.slice(0, 50).padEnd(50), String(d.attempts).padEnd(8), age.padEnd(10), (d.lastError ?? '').replace(/\s+/g, ' ').slice(0, 120)].join('  '));
    }
  });
}

/** Who the audit log names for a command-line action. */
function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

function reasonFrom(options: { reason?: string }, required: boolean): string | null {
  const reason = options.reason?.trim();
  if (reason && reason.length > 500) throw usage('--reason takes at most 500 characters');
  if (reason) return reason;
  if (required) throw usage('--reason is required: say why, it goes to the audit log');
  return null;
}

async function deadRequeueCommand(eventIds: string[], options: { all?: boolean; reason?: string } & Record<string, unknown>): Promise<void> {
  const config = resolveConfig(process.env, { ...overridesFrom(options, DB_KEYS), ...(await forTenant(options)) }, ['databaseUrl']);
  if (options.all && eventIds.length > 0) throw usage('give event ids or --all, not both');
  if (!options.all && eventIds.length === 0) throw usage('give at least one event id, or --all');
  const reason = reasonFrom(options, false);
  const [{ requeueDead }, { recordAudit }] = await Promise.all([import('./outbox/requeueDead.ts'), import('./control/recordAudit.ts')]);
  await withDb(config, async (db) => {
    const result = await requeueDead(db, options.all ? { all: true } : { eventIds }, {
      alsoInTransaction: (tx, requeued) =>
        recordAudit(tx, { actor: cliActor(), action: 'requeue', target: options.all ? 'all dead events' : eventIds.join(','), reason, details: { ...tenantDetail(options), requeued: requeued.length, eventIds: requeued.slice(0, 1000) } }),
    });
    console.log(`requeued ${result.requeued}`);
    if (result.notFound.length > 0) {
      console.error(`not dead or unknown: ${result.notFound.join(', ')}`);
      process.exitCode = 1;
    }
  });
}

/** The audit row of an action on a tenant (--tenant) names it, like the multi-tenant API's rows. */
function tenantDetail(options: Record<string, unknown>): { tenant?: string } {
  return typeof options.tenant === 'string' ? { tenant: options.tenant } : {};
}

async function pauseCommand(verb: 'pause' | 'resume', options: { type?: string; reason?: string } & Record<string, unknown>): Promise<void> {
  const config = resolveConfig(process.env, { ...overridesFrom(options, DB_KEYS), ...(await forTenant(options)) }, ['databaseUrl']);
  const { PAUSE_TYPE_PATTERN } = await import('./control/pauseScope.ts');
  if (options.type !== undefined && !PAUSE_TYPE_PATTERN.test(options.type)) throw usage(`--type takes an aggregate type (${PAUSE_TYPE_PATTERN}), got ${JSON.stringify(options.type).slice(0, 60)}`);
  const reason = reasonFrom(options, true) as string;
  const [{ pauseRelays }, { resumeRelays }] = await Promise.all([import('./control/pauseRelays.ts'), import('./control/resumeRelays.ts')]);
  await withDb(config, async (db) => {
    const request = { ...(options.type ? { type: options.type } : {}), reason, actor: cliActor(), details: tenantDetail(options) };
    const result = verb === 'pause' ? await pauseRelays(db, request) : await resumeRelays(db, request);
    const what = result.scope === '*' ? 'the whole fleet' : `aggregate type ${result.scope}`;
    if (verb === 'pause') console.log(`paused ${what}${result.wasPaused ? ' (it was already paused; reason replaced)' : ''}; relays stop claiming within one heartbeat`);
    else console.log(result.wasPaused ? `resumed ${what}; relays drain again within one heartbeat` : `${what} was not paused; nothing to resume (recorded)`);
  });
}

async function auditCommand(options: { json?: boolean; limit: string } & Record<string, unknown>): Promise<void> {
  // --tenant: that tenant's own audit log (every action on it, by the API or the CLI, is recorded there).
  const config = resolveConfig(process.env, { ...overridesFrom(options, DB_KEYS), ...(await forTenant(options)) }, ['databaseUrl']);
  const limit = Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw usage(`--limit takes a whole number from 1 to 100000 (got ${options.limit})`);
  const { listAudit } = await import('./control/listAudit.ts');
  await withDb(config, async (db) => {
    const entries = await listAudit(db, { limit });
    if (options.json) {
      console.log(JSON.stringify(entries));
      return;
    }
    if (entries.length === 0) {
      console.log('no audit entries');
      return;
    }
    console.log(['when'.padEnd(24), 'tenant'.padEnd(16), 'actor'.padEnd(20), 'action'.padEnd(9), 'target'.padEnd(40), 'reason'].join('  '));
    for (const e of entries) {
      const oneLine = (text: string, width: number) => text.replace(/\s+/g, ' ').slice(0, width);
      // A row the multi-tenant API wrote names its tenant; one written directly in the tenant's database (plain CLI) is the tenant's by place.
      const tenant = e.tenant ?? (typeof options.tenant === 'string' ? options.tenant : '-');
      console.log([e.at.toISOString().padEnd(24), oneLine(tenant, 16).padEnd(16), oneLine(e.actor, 20).padEnd(20), e.action.padEnd(9), oneLine(e.target, 40).padEnd(40), oneLine(e.reason ?? '', 120)].join('  '));
    }
  });
}

async function demoCommand(options: { rate: string; duration?: string; customers: string; trace?: boolean } & Record<string, unknown>): Promise<void> {
  const config = resolveConfig(process.env, overridesFrom(options, ALL_KEYS));
  const rate = Number(options.rate);
  const customers = Number(options.customers);
  const duration = options.duration === undefined ? undefined : Number(options.duration);
  if (!(rate > 0 && rate <= 100_000)) throw usage(`--rate takes postings per second, 0 < rate ≤ 100000 (got ${options.rate})`);
  if (!Number.isInteger(customers) || customers < 1 || customers > 10_000) throw usage(`--customers takes a whole number from 1 to 10000 (got ${options.customers})`);
  if (duration !== undefined && !(duration > 0)) throw usage(`--duration takes seconds > 0 (got ${options.duration})`);
  // Progress lines go to stdout; the relay's own logs only from warn up.
  const logger = createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel, pretty: process.stderr.isTTY === true, secrets: secretValues(process.env, secretFlagValues(process.argv)) });
  const { runDemo } = await import('./demo/runDemo.ts');
  const summary = await runDemo(config, { ratePerSecond: rate, customers, trace: options.trace === true, ...(duration ? { durationSeconds: duration } : {}) }, logger);
  if (summary.pending > 0 || summary.dead > 0 || summary.writerErrors > 0) process.exitCode = 1;
  process.exit();
}

const RECONCILE_KEYS: SettingKey[] = ['databaseUrl', 'mongoUrl', 'mongoDb', 'poolMode', 'logLevel', 'logFormat'];

async function reconcileCommand(
  options: { repair?: boolean; repairAhead?: boolean; reason?: string; json?: boolean; check?: string[]; sampleLimit: string; pageSize: string; pendingOlderThan: string; allTenants?: boolean } & Record<string, unknown>,
): Promise<void> {
  if (options.allTenants && options.tenant !== undefined) throw usage('give --tenant <id> or --all-tenants, not both');
  const config = resolveConfig(process.env, { ...overridesFrom(options, RECONCILE_KEYS), ...(await forTenant(options)) }, options.allTenants ? [] : ['databaseUrl', 'mongoUrl']);
  if (options.repairAhead && !options.repair) throw usage('--repair-ahead needs --repair');
  const checks = options.check ?? [...CHECK_NAMES];
  const unknown = checks.filter((c) => !(CHECK_NAMES as readonly string[]).includes(c));
  if (unknown.length > 0) throw usage(`unknown check ${unknown.join(', ')}; the checks are ${CHECK_NAMES.join(', ')}`);
  const numbers = { sampleLimit: Number(options.sampleLimit), pageSize: Number(options.pageSize), pendingOlderThanSeconds: Number(options.pendingOlderThan) };
  for (const [name, value] of Object.entries(numbers)) {
    if (!Number.isInteger(value) || value < 1) throw usage(`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} takes a whole number ≥ 1`);
  }
  const logger = loggerFor(config);
  const run = { checks: checks as CheckName[], repair: options.repair === true, repairAhead: options.repairAhead === true, ...numbers, actor: cliActor(), reason: options.reason?.trim() || null };
  if (options.allTenants) {
    const { reconcileAllTenants } = await import('./tenants/reconcileAllTenants.ts');
    const exitCode = await reconcileAllTenants(options, (o) => overridesFrom(o, TENANT_KEYS), { run, poolMode: config.poolMode, json: options.json === true, logger, scrub: scrubber(process.argv) });
    process.exit(exitCode);
  }
  const [{ reconcileDatabase }, { formatReport }, { reconcileExitCode }] = await Promise.all([
    import('./reconcile/reconcileDatabase.ts'),
    import('./reconcile/formatReport.ts'),
    import('./reconcile/reconcileExitCode.ts'),
  ]);
  let exitCode: 0 | 1 | 2;
  try {
    const report = await reconcileDatabase({ databaseUrl: config.databaseUrl, mongoUrl: config.mongoUrl, mongoDb: config.mongoDb, poolMode: config.poolMode }, run, logger);
    console.log(options.json ? JSON.stringify(report, null, 2) : formatReport(report));
    exitCode = reconcileExitCode({ report });
  } catch (error) {
    console.error(scrubber(process.argv)(`outbox-relay: reconcile could not run: ${error instanceof Error ? error.message : String(error)}`));
    exitCode = reconcileExitCode({ error });
  }
  process.exit(exitCode);
}

async function rebuildCommand(
  options: { type?: string[]; since?: string; idsFrom?: string; rate?: string; batchSize: string; json?: boolean; restart?: boolean } & Record<string, unknown>,
): Promise<void> {
  const config = resolveConfig(process.env, overridesFrom(options, RECONCILE_KEYS), ['databaseUrl', 'mongoUrl']);
  const batchSize = Number(options.batchSize);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) throw usage(`--batch-size takes a whole number from 1 to 10000 (got ${options.batchSize})`);
  const rate = options.rate === undefined ? undefined : Number(options.rate);
  if (rate !== undefined && !(rate > 0 && Number.isFinite(rate))) throw usage(`--rate takes entities per second > 0 (got ${options.rate})`);
  let since: Date | undefined;
  if (options.since !== undefined) {
    since = new Date(options.since);
    if (!/^\d{4}-\d{2}-\d{2}/.test(options.since) || Number.isNaN(since.getTime())) throw usage(`--since takes an ISO 8601 date or timestamp (got ${options.since})`);
  }
  const [{ readFileSync }, { parseIdsFile }, { AGGREGATE_TYPE_PATTERN }] = await Promise.all([import('node:fs'), import('./rebuild/parseIdsFile.ts'), import('./outbox/aggregateType.ts')]);
  for (const type of options.type ?? []) if (!AGGREGATE_TYPE_PATTERN.test(type)) throw usage(`--type: not an entity type: ${JSON.stringify(type)}`);
  let ids: { aggregateType: string; aggregateId: string }[] | undefined;
  if (options.idsFrom !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.idsFrom, 'utf8');
    } catch (error) {
      throw usage(`--ids-from: cannot read ${options.idsFrom}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    try {
      ids = parseIdsFile(text, options.type ?? ['transaction', 'operation']);
    } catch (error) {
      throw usage(error instanceof Error ? error.message : String(error));
    }
  }
  const logger = loggerFor(config);
  const [{ MongoClient }, { rebuild }, { rebuildExitCode }, { createPool }, { createProgressBar }] = await Promise.all([
    import('mongodb'),
    import('./rebuild/rebuild.ts'),
    import('./rebuild/rebuildExitCode.ts'),
    import('./db/pool.ts'),
    import('./rebuild/progressBar.ts'),
  ]);
  const pool = createPool(config.databaseUrl, { max: 2, applicationName: 'outbox-relay-rebuild' });
  const mongo = new MongoClient(config.mongoUrl, { serverSelectionTimeoutMS: 10_000, appName: 'outbox-relay-rebuild' });
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (abort.signal.aborted) process.exit(2);
    console.error(`outbox-relay: ${signal}: stopping after the batch in hand (again to exit now); run rebuild again with the same filter to resume`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const bar = !options.json && process.stderr.isTTY === true ? createProgressBar() : undefined;
  let lastLine = 0;
  const onProgress = (progress: import('./rebuild/rebuildTypes.ts').RebuildProgress) => {
    if (options.json) console.log(JSON.stringify({ event: 'progress', ...progress }));
    else if (bar) bar.update(progress);
    else if (Date.now() - lastLine >= 5000) {
      // Not a terminal (a log file, CI): a plain line every 5 s instead of a bar.
      lastLine = Date.now();
      console.error(`rebuild: ${progress.done}/${progress.total} entities, ${progress.ratePerSecond}/s, ETA ${progress.etaSeconds ?? '?'} s`);
    }
  };
  let exitCode: 0 | 1 | 2;
  try {
    await mongo.connect();
    const report = await rebuild(
      { db: pool, mongoDb: mongo.db(config.mongoDb), logger },
      { ...(options.type ? { types: options.type } : {}), ...(since ? { since } : {}), ...(ids ? { ids } : {}) },
      { batchSize, ...(rate ? { ratePerSecond: rate } : {}), restart: options.restart === true, signal: abort.signal, onProgress },
    );
    bar?.stop();
    if (options.json) console.log(JSON.stringify({ event: 'done', ...report }));
    else {
      console.log(
        `rebuild ${report.status === 'complete' ? 'complete' : 'STOPPED (run again to resume)'}: ${report.done}/${report.total} entities in ${report.seconds} s ` +
          `(${report.written} written by this process at ${report.ratePerSecond}/s, ${report.handedToRelays} left to the relays that held them, ${report.failed} failed` +
          `${report.resumedAt > 0 ? `, resumed at ${report.resumedAt}` : ''})`,
      );
      if (report.notRebuildable > 0) console.log(`${report.notRebuildable} entities have no content in PostgreSQL (pruned before the upgrade): see reconcile's metadata-content check`);
    }
    exitCode = rebuildExitCode({ report });
  } catch (error) {
    bar?.stop();
    console.error(`outbox-relay: rebuild could not run: ${error instanceof Error ? error.message : String(error)}`);
    exitCode = rebuildExitCode({ error });
  } finally {
    await Promise.allSettled([pool.end(), mongo.close()]);
  }
  process.exit(exitCode);
}

/** `--tenant <id>`: that tenant's databases from the registry (its URLs win over DATABASE_URL/MONGO_URL/MONGO_DB). */
function forTenant(options: Record<string, unknown>): Promise<ConfigOverrides> {
  return tenantCommands.tenantOverrides(options, (o) => overridesFrom(o, TENANT_KEYS));
}

class UsageError extends Error {}
function usage(message: string): UsageError {
  return new UsageError(message);
}

export function buildProgram(scrub: (text: string) => string = (text) => text): Command {
  const program = new Command('outbox-relay')
    .description('Transactional outbox relay: PostgreSQL outbox → MongoDB metadata, exactly-once in effect.')
    // Commander quotes a bad argument back (`unknown option '--mongo-ur=mongodb://u:pw@…'`).
    .configureOutput({ outputError: (text, write) => write(scrub(text)) })
    .showHelpAfterError()
    .exitOverride();

  addSettingFlags(
    program.command('run').description('Run the relay sidecar until SIGTERM/SIGINT.').option('--multi-tenant', 'serve every registered, unpaused tenant of the control database (see `tenant`)'),
    ALL_KEYS,
  ).action(runCommand);
  addSettingFlags(
    program
      .command('migrate')
      .description('Apply database migrations (idempotent).')
      .option('--create-roles', 'also create the least-privilege roles outbox_relay_writer and outbox_relay_relay (needs CREATEROLE)')
      .option('--all-tenants', 'migrate the control database and every registered tenant database'),
    TENANT_KEYS,
  ).action(migrateCommand);
  addSettingFlags(
    program
      .command('status')
      .description('Show outbox lag and live relays (SELECT * FROM outbox_lag).')
      .option('--json', 'machine-readable output')
      .option('--watch [seconds]', 'refresh every N seconds (default 2)')
      .option('--tenant <id>', "a registered tenant's lag and health (multi-tenant)"),
    TENANT_KEYS,
  ).action(statusCommand);
  const dead = program.command('dead').description('Dead (parked) events.');
  addSettingFlags(dead.command('list').description('List dead events, oldest first.').option('--limit <n>', 'how many', '50').option('--json', 'machine-readable output').option('--tenant <id>', "a registered tenant's dead events"), TENANT_KEYS).action(deadListCommand);
  addSettingFlags(
    dead
      .command('requeue')
      .description('Put dead events back to pending with attempts reset (recorded in the audit log).')
      .argument('[event-ids...]', 'event ids (UUIDs)')
      .option('--all', 'requeue every dead event')
      .option('--reason <text>', 'why (goes to the audit log)')
      .option('--tenant <id>', "in a registered tenant's database"),
    TENANT_KEYS,
  ).action(deadRequeueCommand);
  addSettingFlags(
    program
      .command('reconcile')
      .description('Prove PostgreSQL and MongoDB agree. Exit 0 clean, 1 problems found, 2 could not run.')
      .option('--repair', 'fix metadata drift by enqueuing fresh events (never touches balances, transactions or operations; recorded in the audit log)')
      .option('--reason <text>', 'with --repair: why (goes to the audit log)')
      .option('--repair-ahead', 'with --repair: also reset documents ahead of PostgreSQL (after a PostgreSQL restore) to PostgreSQL\'s content')
      .option('--json', 'machine-readable report')
      .option('--check <name...>', `run only these checks: ${CHECK_NAMES.join(', ')}`)
      .option('--sample-limit <n>', 'offending ids shown per check', '20')
      .option('--page-size <n>', 'rows per page', '1000')
      .option('--pending-older-than <seconds>', 'outbox-health: pending events older than this are a problem', '300')
      .option('--tenant <id>', "a registered tenant's databases")
      .option('--all-tenants', 'every registered tenant, one after another, each against its own databases: a summary per tenant; exit 0 all agree, 1 any drift, 2 any tenant could not be reconciled (the others still run)'),
    [...RECONCILE_KEYS, 'controlDatabaseUrl'],
  ).action(reconcileCommand);
  for (const verb of ['pause', 'resume'] as const) {
    addSettingFlags(
      program
        .command(verb)
        .description(
          verb === 'pause'
            ? 'Pause delivery by every relay (or of one aggregate type): events stay pending; durable, recorded in the audit log.'
            : 'Resume delivery paused with `pause` (the fleet, or one aggregate type); recorded in the audit log.',
        )
        .option('--type <aggregate-type>', `only this aggregate type (without it: the whole fleet)`)
        .requiredOption('--reason <text>', 'why (goes to the audit log)')
        .option('--tenant <id>', "in a registered tenant's database (the relay holding it honours it within one heartbeat)"),
      [...DB_KEYS, 'controlDatabaseUrl'],
    ).action((options: Record<string, unknown>) => pauseCommand(verb, options));
  }
  addSettingFlags(
    program
      .command('audit')
      .description('Operator actions (requeue, pause, resume, reconcile, repair): who, when, what, why; newest first.')
      .option('--json', 'machine-readable output')
      .option('--limit <n>', 'how many', '50')
      .option('--tenant <id>', "a registered tenant's audit log (its own database)"),
    TENANT_KEYS,
  ).action(auditCommand);
  addSettingFlags(
    program
      .command('rebuild')
      .description(
        'Re-project metadata from PostgreSQL into MongoDB (MongoDB lost or restored from a backup), while writers and relays run; never overwrites a newer version. ' +
          'Resumes an unfinished run with the same filter. Exit 0 all done, 1 some entities could not be, 2 could not run or stopped.',
      )
      .option('--type <name...>', 'only these entity types (transaction, operation, or an enqueue type kept with keepContent)')
      .option('--since <iso-date>', 'only entities whose metadata changed at or after this time')
      .option('--ids-from <file>', 'only the entities in this file: one <type>/<id> (or a bare id, for each --type) per line')
      .option('--rate <n>', 'at most n entities per second')
      .option('--batch-size <n>', 'entities per batch (one claim, one bulk write, one watermark)', '500')
      .option('--restart', 'start over instead of resuming an unfinished run with the same filter')
      .option('--json', 'progress as JSON lines on stdout, then a final { "event": "done" } line'),
    RECONCILE_KEYS,
  ).action(rebuildCommand);
  addSettingFlags(
    program
      .command('demo')
      .description('Run the relay with a demo writer posting transactions with metadata; progress every 2 s, summary on Ctrl-C.')
      .option('--rate <n>', 'postings per second', '20')
      .option('--customers <n>', 'customer accounts to spread postings over', '20')
      .option('--duration <seconds>', 'stop by itself after this long')
      .option('--trace', 'trace postings and the relay in-process (no collector needed) and print, for a sample, the trace id and the relay\'s span duration'),
    ALL_KEYS,
  ).action(demoCommand);
  const { mountTenantCommands } = tenantCommands;
  mountTenantCommands(program, (command, withDatabaseUrl) => addSettingFlags(command, withDatabaseUrl ? TENANT_KEYS : TENANT_KEYS.filter((k) => k !== 'databaseUrl')), (o) => overridesFrom(o, TENANT_KEYS));
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const scrub = scrubber(argv);
  try {
    await buildProgram(scrub).parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exit(error.exitCode === 0 ? 0 : 2);
    }
    if (error instanceof UsageError) {
      console.error(scrub(`outbox-relay: ${error.message}`));
      process.exit(2);
    }
    if (error instanceof OutboxRelayError && error.code === 'INVALID_TENANT') {
      console.error(scrub(`outbox-relay: ${error.message}`));
      process.exit(2);
    }
    if (error instanceof OutboxRelayError && error.code === 'INVALID_CONFIG') {
      console.error(scrub(`outbox-relay: invalid configuration: ${error.message}`));
      process.exit(2);
    }
    const message = error instanceof Error ? error.message : String(error);
    console.error(scrub(`outbox-relay: ${message}`));
    process.exit(1);
  }
}

await main();
