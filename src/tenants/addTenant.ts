import { MongoClient } from 'mongodb';
import pg from 'pg';
import type { SqlDb } from '../db/sqlDb.ts';
import { ConflictError, OutboxRelayError, ValidationError } from '../errors.ts';
import { resolveTenantUrls } from './resolveTenantUrls.ts';
import { ENV_NAME_PATTERN, MONGO_DB_PATTERN, rowToTenant, TENANT_COLUMNS, TENANT_ID_PATTERN, type TenantRecord } from './tenantTypes.ts';

export interface AddTenantInput {
  id: string;
  databaseUrl?: string;
  databaseUrlEnv?: string;
  mongoUrl?: string;
  mongoUrlEnv?: string;
  /** A direct URL for LISTEN when the database URL goes through a transaction pooler. */
  listenDatabaseUrl?: string;
  listenDatabaseUrlEnv?: string;
  /** Default: the tenant id. */
  mongoDb?: string;
  weight?: number;
}

function invalid(message: string): ValidationError {
  return new ValidationError('INVALID_TENANT', message);
}

/** Check the input alone (no I/O); the record to insert. */
export function validateTenantInput(input: AddTenantInput): Omit<TenantRecord, 'paused' | 'owner' | 'leaseExpiresAt' | 'health' | 'healthReason' | 'healthAt'> {
  if (!TENANT_ID_PATTERN.test(input.id)) throw invalid(`tenant id must be 1–63 of a-z 0-9 _ - starting with a letter or digit (got ${JSON.stringify(input.id.slice(0, 80))})`);
  if ((input.databaseUrl === undefined) === (input.databaseUrlEnv === undefined)) throw invalid('give exactly one of --database-url and --database-url-env');
  if (input.mongoUrl !== undefined && input.mongoUrlEnv !== undefined) throw invalid('give at most one of --mongo-url and --mongo-url-env');
  if (input.listenDatabaseUrl !== undefined && input.listenDatabaseUrlEnv !== undefined) throw invalid('give at most one of --listen-database-url and --listen-database-url-env');
  for (const name of [input.databaseUrlEnv, input.mongoUrlEnv, input.listenDatabaseUrlEnv]) {
    if (name !== undefined && !ENV_NAME_PATTERN.test(name)) throw invalid(`${JSON.stringify(name.slice(0, 80))} is not an environment variable name`);
  }
  const mongoDb = input.mongoDb ?? input.id;
  if (!MONGO_DB_PATTERN.test(mongoDb)) throw invalid('--mongo-db must be 1–63 letters, digits, _ or -');
  const weight = input.weight ?? 1;
  if (!Number.isInteger(weight) || weight < 1 || weight > 100) throw invalid('--weight must be a whole number from 1 to 100');
  return {
    id: input.id,
    databaseUrl: input.databaseUrl ?? null,
    databaseUrlEnv: input.databaseUrlEnv ?? null,
    mongoUrl: input.mongoUrl ?? null,
    mongoUrlEnv: input.mongoUrlEnv ?? null,
    listenDatabaseUrl: input.listenDatabaseUrl ?? null,
    listenDatabaseUrlEnv: input.listenDatabaseUrlEnv ?? null,
    mongoDb,
    weight,
  };
}

/** The database the URL reaches (its name as the server knows it, whatever a pooler calls it). */
async function reachPostgres(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000, application_name: 'outbox-relay-tenant-add' });
  try {
    await client.connect();
    const { rows } = await client.query<{ name: string }>('SELECT current_database() AS name');
    return rows[0]?.name ?? '';
  } finally {
    await client.end().catch(() => {});
  }
}

async function reachMongo(url: string): Promise<void> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000 });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
  } finally {
    await client.close().catch(() => {});
  }
}

/**
 * Register a tenant. Its databases must be reachable from here now (with the
 * URLs resolved from this process's environment), and the id new; otherwise a
 * typed error and nothing is written. Error messages never carry a URL.
 */
export async function addTenant(control: SqlDb, input: AddTenantInput, env: NodeJS.ProcessEnv, defaultMongoUrl: string | undefined): Promise<TenantRecord> {
  const record = validateTenantInput(input);
  const urls = resolveTenantUrls({ ...record, paused: false, owner: null, leaseExpiresAt: null, health: null, healthReason: null, healthAt: null }, env, defaultMongoUrl);
  if (!urls.ok) throw invalid(`tenant ${record.id}: ${urls.reason}`);
  const exists = await control.query('SELECT 1 FROM outbox_tenant WHERE id = $1', [record.id]);
  if (exists.rowCount) throw new ConflictError('TENANT_EXISTS', `tenant ${record.id} is already registered`);
  let database: string;
  try {
    database = await reachPostgres(urls.databaseUrl);
  } catch (error) {
    throw new OutboxRelayError('TENANT_UNREACHABLE', `tenant ${record.id}: its PostgreSQL is not reachable (${(error as Error).message.replace(/postgres(ql)?:\/\/\S+/g, '<url>')})`, { cause: error, details: { tenant: record.id, database: 'postgresql' } });
  }
  if (record.listenDatabaseUrl !== null || record.listenDatabaseUrlEnv !== null) {
    let listenDatabase: string;
    try {
      listenDatabase = await reachPostgres(urls.listenDatabaseUrl);
    } catch (error) {
      throw new OutboxRelayError('TENANT_UNREACHABLE', `tenant ${record.id}: its listen URL is not reachable (${(error as Error).message.replace(/postgres(ql)?:\/\/\S+/g, '<url>')})`, { cause: error, details: { tenant: record.id, database: 'postgresql-listen' } });
    }
    // NOTIFY reaches only listeners of the same database: a listen URL to another one would never wake this tenant.
    if (listenDatabase !== database) throw invalid(`tenant ${record.id}: its listen URL reaches database ${JSON.stringify(listenDatabase)}, its database URL ${JSON.stringify(database)}; both must be the same database`);
  }
  try {
    await reachMongo(urls.mongoUrl);
  } catch (error) {
    throw new OutboxRelayError('TENANT_UNREACHABLE', `tenant ${record.id}: its MongoDB is not reachable (${(error as Error).message.replace(/mongodb(\+srv)?:\/\/\S+/g, '<url>')})`, { cause: error, details: { tenant: record.id, database: 'mongodb' } });
  }
  try {
    const { rows } = await control.query(
      `INSERT INTO outbox_tenant (id, database_url, database_url_env, mongo_url, mongo_url_env, mongo_db, weight, listen_database_url, listen_database_url_env)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${TENANT_COLUMNS}`,
      [record.id, record.databaseUrl, record.databaseUrlEnv, record.mongoUrl, record.mongoUrlEnv, record.mongoDb, record.weight, record.listenDatabaseUrl, record.listenDatabaseUrlEnv],
    );
    return rowToTenant(rows[0]!);
  } catch (error) {
    // Two `tenant add` of one id at once: the primary key decides.
    if ((error as { code?: string }).code === '23505') throw new ConflictError('TENANT_EXISTS', `tenant ${record.id} is already registered`);
    throw error;
  }
}
