#!/usr/bin/env node
/**
 * Thin command line: parse, build config, call the library. One function per command.
 * Exit codes: 0 ok, 1 failure (or reconcile found problems), 2 bad usage/config.
 */
import { Command, CommanderError, Option } from 'commander';
import { resolveConfig, SETTINGS, type ConfigOverrides, type RelayConfig } from './config.ts';
import { ConfigError, OutboxRelayError } from './errors.ts';
import { createLogger, redactUrl, type Logger } from './logger.ts';
import { CHECK_NAMES, type CheckName } from './reconcile/reconcileTypes.ts';

import type { Db } from './db/client.ts';
import * as tenantCommands from './tenants/tenantCommands.ts';

// Everything that touches a database loads only in the command that uses it:
// a bad flag or value is answered at once (drizzle and the MongoDB driver
// take seconds to load on a busy machine).

type SettingKey = keyof typeof SETTINGS;

function camel(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Every setting becomes a flag; flags win over the environment. */
function addSettingFlags(command: Command, keys: readonly SettingKey[]): Command {
  for (const key of keys) {
    const s = SETTINGS[key];
    command.addOption(new Option(`${s.flag} <value>`, `${s.description} [env ${s.env}]`));
  }
  return command;
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
  return createLogger({ level: config.logLevel, pretty });
}

const ALL_KEYS = Object.keys(SETTINGS) as SettingKey[];
const DB_KEYS: SettingKey[] = ['databaseUrl', 'logLevel', 'logFormat'];
const TENANT_KEYS: SettingKey[] = ['databaseUrl', 'controlDatabaseUrl', 'logLevel', 'logFormat'];

async function withDb<T>(config: RelayConfig, fn: (db: Db) => Promise<T>): Promise<T> {
  const { createDb, createPool } = await import('./db/client.ts');
  const pool = createPool(config.databaseUrl, { max: 2, applicationName: 'outbox-relay-cli' });
  try {
    return await fn(createDb(pool));
  } finally {
    await pool.end();
  }
}

async function runCommand(options: { multiTenant?: boolean } & Record<string, unknown>): Promise<void> {
  // Multi-tenant: the tenants' URLs come from the registry; only the control database is required.
  const config = resolveConfig(process.env, overridesFrom(options, ALL_KEYS), options.multiTenant ? [] : ['databaseUrl', 'mongoUrl']);
  if (options.multiTenant && !config.controlDatabaseUrl) throw new ConfigError(SETTINGS.controlDatabaseUrl.env, 'is required with --multi-tenant (or DATABASE_URL): the database holding the tenant registry');
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
  const { runMigrations } = await import('./db/migrate.ts');
  await runMigrations(config.databaseUrl);
  console.error('migrations applied');
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

async function deadRequeueCommand(eventIds: string[], options: { all?: boolean } & Record<string, unknown>): Promise<void> {
  const config = resolveConfig(process.env, { ...overridesFrom(options, DB_KEYS), ...(await forTenant(options)) }, ['databaseUrl']);
  if (options.all && eventIds.length > 0) throw usage('give event ids or --all, not both');
  if (!options.all && eventIds.length === 0) throw usage('give at least one event id, or --all');
  const { requeueDead } = await import('./outbox/requeueDead.ts');
  await withDb(config, async (db) => {
    const result = await requeueDead(db, options.all ? { all: true } : { eventIds });
    console.log(`requeued ${result.requeued}`);
    if (result.notFound.length > 0) {
      console.error(`not dead or unknown: ${result.notFound.join(', ')}`);
      process.exitCode = 1;
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
  const logger = createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel, pretty: process.stderr.isTTY === true });
  const { runDemo } = await import('./demo/runDemo.ts');
  const summary = await runDemo(config, { ratePerSecond: rate, customers, trace: options.trace === true, ...(duration ? { durationSeconds: duration } : {}) }, logger);
  if (summary.pending > 0 || summary.dead > 0 || summary.writerErrors > 0) process.exitCode = 1;
  process.exit();
}

const RECONCILE_KEYS: SettingKey[] = ['databaseUrl', 'mongoUrl', 'mongoDb', 'logLevel', 'logFormat'];

async function reconcileCommand(
  options: { repair?: boolean; json?: boolean; check?: string[]; sampleLimit: string; pageSize: string; pendingOlderThan: string } & Record<string, unknown>,
): Promise<void> {
  const config = resolveConfig(process.env, { ...overridesFrom(options, RECONCILE_KEYS), ...(await forTenant(options)) }, ['databaseUrl', 'mongoUrl']);
  const checks = options.check ?? [...CHECK_NAMES];
  const unknown = checks.filter((c) => !(CHECK_NAMES as readonly string[]).includes(c));
  if (unknown.length > 0) throw usage(`unknown check ${unknown.join(', ')}; the checks are ${CHECK_NAMES.join(', ')}`);
  const numbers = { sampleLimit: Number(options.sampleLimit), pageSize: Number(options.pageSize), pendingOlderThanSeconds: Number(options.pendingOlderThan) };
  for (const [name, value] of Object.entries(numbers)) {
    if (!Number.isInteger(value) || value < 1) throw usage(`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} takes a whole number ≥ 1`);
  }
  const logger = loggerFor(config);
  const [{ MongoClient }, { reconcile }, { formatReport }, { reconcileExitCode }, { createDb, createPool }, { recordReconcileRun }] = await Promise.all([
    import('mongodb'),
    import('./reconcile/reconcile.ts'),
    import('./reconcile/formatReport.ts'),
    import('./reconcile/reconcileExitCode.ts'),
    import('./db/client.ts'),
    import('./reconcile/recordReconcileRun.ts'),
  ]);
  const pool = createPool(config.databaseUrl, { max: 4, applicationName: 'outbox-relay-reconcile' });
  const mongo = new MongoClient(config.mongoUrl, { serverSelectionTimeoutMS: 10_000 });
  let exitCode: 0 | 1 | 2;
  try {
    await mongo.connect();
    const db = createDb(pool);
    const report = await reconcile({ db, mongoDb: mongo.db(config.mongoDb), logger }, { checks: checks as CheckName[], repair: options.repair === true, ...numbers });
    await recordReconcileRun(db, report, 'cli').catch((error: unknown) => logger.warn({ err: error }, 'could not record the reconcile run'));
    console.log(options.json ? JSON.stringify(report, null, 2) : formatReport(report));
    exitCode = reconcileExitCode({ report });
  } catch (error) {
    console.error(`outbox-relay: reconcile could not run: ${error instanceof Error ? error.message : String(error)}`);
    exitCode = reconcileExitCode({ error });
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

export function buildProgram(): Command {
  const program = new Command('outbox-relay')
    .description('Transactional outbox relay: PostgreSQL outbox → MongoDB metadata, exactly-once in effect.')
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
    dead.command('requeue').description('Put dead events back to pending with attempts reset.').argument('[event-ids...]', 'event ids (UUIDs)').option('--all', 'requeue every dead event').option('--tenant <id>', "in a registered tenant's database"),
    TENANT_KEYS,
  ).action(deadRequeueCommand);
  addSettingFlags(
    program
      .command('reconcile')
      .description('Prove PostgreSQL and MongoDB agree. Exit 0 clean, 1 problems found, 2 could not run.')
      .option('--repair', 'fix metadata drift by enqueuing fresh events (never touches balances, transactions or operations)')
      .option('--json', 'machine-readable report')
      .option('--check <name...>', `run only these checks: ${CHECK_NAMES.join(', ')}`)
      .option('--sample-limit <n>', 'offending ids shown per check', '20')
      .option('--page-size <n>', 'rows per page', '1000')
      .option('--pending-older-than <seconds>', 'outbox-health: pending events older than this are a problem', '300')
      .option('--tenant <id>', "a registered tenant's databases"),
    [...RECONCILE_KEYS, 'controlDatabaseUrl'],
  ).action(reconcileCommand);
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
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exit(error.exitCode === 0 ? 0 : 2);
    }
    if (error instanceof UsageError) {
      console.error(`outbox-relay: ${error.message}`);
      process.exit(2);
    }
    if (error instanceof OutboxRelayError && error.code === 'INVALID_TENANT') {
      console.error(`outbox-relay: ${error.message}`);
      process.exit(2);
    }
    if (error instanceof OutboxRelayError && error.code === 'INVALID_CONFIG') {
      console.error(`outbox-relay: invalid configuration: ${error.message}`);
      process.exit(2);
    }
    const message = error instanceof Error ? error.message : String(error);
    console.error(`outbox-relay: ${message}`);
    process.exit(1);
  }
}

await main();
