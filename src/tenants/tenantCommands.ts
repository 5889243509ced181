/**
 * The `tenant` commands and `migrate --all-tenants`: parse, call src/tenants,
 * print. Kept beside the registry (not in cli.ts) so the CLI only mounts them.
 * Nothing here prints a URL's password: `list` shows `$VAR` or a redacted URL.
 */
import type { Command } from 'commander';
import type { SqlDb } from '../db/sqlDb.ts';
import { resolveConfig, type ConfigOverrides } from '../config.ts';
import { ConfigError, ValidationError } from '../errors.ts';
import { describeUrl, resolveTenantUrls } from './resolveTenantUrls.ts';

export type Overrides = (options: Record<string, unknown>) => ConfigOverrides;
type AddFlags = (command: Command, withDatabaseUrl: boolean) => Command;

export function controlUrl(options: Record<string, unknown>, overrides: Overrides): { controlDatabaseUrl: string; mongoUrl: string | undefined } {
  const config = resolveConfig(process.env, overrides(options), []);
  if (!config.controlDatabaseUrl) throw new ConfigError('OUTBOX_RELAY_CONTROL_DATABASE_URL', 'is required (or DATABASE_URL): the database holding the tenant registry');
  return { controlDatabaseUrl: config.controlDatabaseUrl, mongoUrl: config.mongoUrl };
}

export async function withControl<T>(url: string, fn: (control: SqlDb) => Promise<T>): Promise<T> {
  const { withPoolDb } = await import('../db/withPoolDb.ts');
  return withPoolDb(url, { max: 2, applicationName: 'outbox-relay-cli' }, fn);
}

export function mountTenantCommands(program: Command, addFlags: AddFlags, overrides: Overrides): void {
  const tenant = program.command('tenant').description('The tenant registry served by `run --multi-tenant` (in the control database).');
  addFlags(
    tenant
      .command('add')
      .description('Register a tenant; its databases must be reachable now.')
      .argument('<id>', 'tenant id: 1–63 of a-z 0-9 _ -')
      .option('--database-url <url>', "the tenant's PostgreSQL URL (stored in the registry)")
      .option('--database-url-env <VAR>', "name of the relay's environment variable holding the tenant's PostgreSQL URL (the secret stays out of the registry)")
      .option('--mongo-url <url>', "the tenant's MongoDB URL (default: the relay's MONGO_URL)")
      .option('--mongo-url-env <VAR>', "name of the relay's environment variable holding the tenant's MongoDB URL")
      .option('--listen-database-url <url>', "a direct URL to the tenant's PostgreSQL for LISTEN, when --database-url goes through a transaction pooler (PgBouncer); default: the database URL")
      .option('--listen-database-url-env <VAR>', "name of the relay's environment variable holding that listen URL")
      .option('--mongo-db <name>', "the tenant's MongoDB database (default: the tenant id)")
      .option('--weight <n>', 'share of the relay when tenants compete (1–100)', '1'),
    // --database-url is the tenant's here; the registry is found through OUTBOX_RELAY_CONTROL_DATABASE_URL or DATABASE_URL.
    false,
  ).action(async (id: string, options: Record<string, unknown>) => {
    const { controlDatabaseUrl, mongoUrl } = controlUrl({ ...options, databaseUrl: undefined }, overrides);
    const weight = Number(options.weight);
    const { addTenant } = await import('./addTenant.ts');
    const added = await withControl(controlDatabaseUrl, (control) =>
      addTenant(
        control,
        {
          id,
          weight,
          ...(options.databaseUrl !== undefined ? { databaseUrl: String(options.databaseUrl) } : {}),
          ...(options.databaseUrlEnv !== undefined ? { databaseUrlEnv: String(options.databaseUrlEnv) } : {}),
          ...(options.mongoUrl !== undefined ? { mongoUrl: String(options.mongoUrl) } : {}),
          ...(options.mongoUrlEnv !== undefined ? { mongoUrlEnv: String(options.mongoUrlEnv) } : {}),
          ...(options.mongoDb !== undefined ? { mongoDb: String(options.mongoDb) } : {}),
          ...(options.listenDatabaseUrl !== undefined ? { listenDatabaseUrl: String(options.listenDatabaseUrl) } : {}),
          ...(options.listenDatabaseUrlEnv !== undefined ? { listenDatabaseUrlEnv: String(options.listenDatabaseUrlEnv) } : {}),
        },
        process.env,
        mongoUrl,
      ),
    );
    console.log(`tenant ${added.id} added (MongoDB database ${added.mongoDb})`);
  });
  addFlags(tenant.command('list').description('Registered tenants; URLs shown as $VAR or without their password.').option('--json', 'machine-readable output'), true).action(async (options: Record<string, unknown>) => {
    const { controlDatabaseUrl } = controlUrl(options, overrides);
    const { listTenants } = await import('./listTenants.ts');
    const tenants = await withControl(controlDatabaseUrl, listTenants);
    const shown = tenants.map((t) => ({
      id: t.id,
      paused: t.paused,
      weight: t.weight,
      database: describeUrl(t.databaseUrl, t.databaseUrlEnv, '?'),
      mongo: describeUrl(t.mongoUrl, t.mongoUrlEnv, '(relay MONGO_URL)'),
      mongoDb: t.mongoDb,
      listen: describeUrl(t.listenDatabaseUrl, t.listenDatabaseUrlEnv, '(database URL)'),
      health: t.health,
      healthReason: t.healthReason,
      servedBy: t.leaseExpiresAt && t.leaseExpiresAt.getTime() > Date.now() ? t.owner : null,
    }));
    if (options.json) {
      console.log(JSON.stringify(shown));
      return;
    }
    if (shown.length === 0) {
      console.log('no tenants registered');
      return;
    }
    for (const t of shown) console.log([t.id.padEnd(20), (t.paused ? 'paused' : 'active').padEnd(7), t.database, t.mongo, t.mongoDb, t.servedBy ?? '-', ...(t.listen === '(database URL)' ? [] : [`listen ${t.listen}`])].join('  '));
  });
  for (const change of ['pause', 'resume', 'remove'] as const) {
    const what = { pause: 'Stop serving a tenant (its events stay pending) until resume.', resume: 'Serve a paused tenant again.', remove: "Unregister a tenant (its databases are left as they are)." }[change];
    addFlags(tenant.command(change).description(what).argument('<id>', 'tenant id'), true).action(async (id: string, options: Record<string, unknown>) => {
      const { controlDatabaseUrl } = controlUrl(options, overrides);
      const { changeTenant } = await import('./changeTenant.ts');
      await withControl(controlDatabaseUrl, (control) => changeTenant(control, id, change));
      console.log(`tenant ${id}: ${change === 'remove' ? 'removed' : change === 'pause' ? 'paused' : 'resumed'}`);
    });
  }
}

/** `migrate --all-tenants`: every registered tenant's database, one after another; a failure is reported and the rest still run. */
export async function migrateAllTenants(options: Record<string, unknown>, overrides: Overrides): Promise<void> {
  const { controlDatabaseUrl, mongoUrl } = controlUrl(options, overrides);
  const [{ listTenants }, { runMigrations }] = await Promise.all([import('./listTenants.ts'), import('../db/migrate.ts')]);
  // The registry lives in the control database: migrate it first.
  await runMigrations(controlDatabaseUrl);
  const tenants = await withControl(controlDatabaseUrl, listTenants);
  let failed = 0;
  for (const tenant of tenants) {
    const urls = resolveTenantUrls(tenant, process.env, mongoUrl);
    try {
      if (!urls.ok) throw new ValidationError('INVALID_TENANT', urls.reason);
      await runMigrations(urls.databaseUrl);
      console.error(`tenant ${tenant.id}: migrations applied`);
    } catch (error) {
      failed++;
      console.error(`tenant ${tenant.id}: migration failed: ${(error instanceof Error ? error.message : String(error)).replace(/postgres(ql)?:\/\/\S+/g, '<url>')}`);
    }
  }
  console.error(`${tenants.length - failed} of ${tenants.length} tenants migrated`);
  if (failed > 0) process.exitCode = 1;
}

/**
 * `status --tenant <id>`: the tenant's health as the relay serving it last
 * recorded it, and its outbox lag read from its own database. Exit 1 when the
 * tenant is unhealthy or its database cannot be read.
 */
export async function tenantStatus(id: string, options: Record<string, unknown>, overrides: Overrides): Promise<void> {
  const { controlDatabaseUrl, mongoUrl } = controlUrl(options, overrides);
  const [{ listTenants }, { readLag }, { formatLag }, { withPoolDb }, { NotFoundError }] = await Promise.all([
    import('./listTenants.ts'),
    import('../outbox/readLag.ts'),
    import('../ops/formatLag.ts'),
    import('../db/withPoolDb.ts'),
    import('../errors.ts'),
  ]);
  const tenant = (await withControl(controlDatabaseUrl, listTenants)).find((t) => t.id === id);
  if (!tenant) throw new NotFoundError('UNKNOWN_TENANT', `no tenant ${JSON.stringify(id.slice(0, 80))} is registered`);
  const about = { id: tenant.id, paused: tenant.paused, health: tenant.health, healthReason: tenant.healthReason, healthAt: tenant.healthAt, servedBy: tenant.leaseExpiresAt && tenant.leaseExpiresAt.getTime() > Date.now() ? tenant.owner : null };
  const urls = resolveTenantUrls(tenant, process.env, mongoUrl);
  let lag: Awaited<ReturnType<typeof readLag>> | null = null;
  let error: string | null = null;
  if (!urls.ok) error = urls.reason;
  else {
    try {
      lag = await withPoolDb(urls.databaseUrl, { max: 1, applicationName: 'outbox-relay-cli', connectionTimeoutMs: 5000 }, readLag);
    } catch (caught) {
      error = (caught instanceof Error ? caught.message : String(caught)).replace(/(postgres(ql)?|mongodb(\+srv)?):\/\/\S+/g, '<url>');
    }
  }
  if (options.json) console.log(JSON.stringify({ tenant: about, lag, error }));
  else {
    console.log(`tenant ${about.id}: ${about.paused ? 'paused' : (about.health ?? 'not served yet')}${about.healthReason ? ` (${about.healthReason})` : ''}`);
    console.log(lag ? formatLag(lag) : `lag unavailable: ${error}`);
  }
  if (tenant.health === 'unhealthy' || error) process.exitCode = 1;
}

/**
 * `--tenant <id>` on dead/reconcile: the tenant's database, MongoDB and
 * MongoDB database as setting overrides, read from the registry. Unknown
 * tenant or unresolvable URL → typed error before anything runs.
 */
export async function tenantOverrides(options: Record<string, unknown>, overrides: Overrides): Promise<ConfigOverrides> {
  if (options.tenant === undefined) return {};
  const id = String(options.tenant);
  const { controlDatabaseUrl, mongoUrl } = controlUrl(options, overrides);
  const [{ listTenants }, { NotFoundError }] = await Promise.all([import('./listTenants.ts'), import('../errors.ts')]);
  const tenant = (await withControl(controlDatabaseUrl, listTenants)).find((t) => t.id === id);
  if (!tenant) throw new NotFoundError('UNKNOWN_TENANT', `no tenant ${JSON.stringify(id.slice(0, 80))} is registered`);
  const urls = resolveTenantUrls(tenant, process.env, mongoUrl);
  if (!urls.ok) throw new ValidationError('INVALID_TENANT', `tenant ${id}: ${urls.reason}`);
  return { databaseUrl: urls.databaseUrl, mongoUrl: urls.mongoUrl, mongoDb: tenant.mongoDb };
}
