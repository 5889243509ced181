/**
 * A tenant: one PostgreSQL database (ledger + outbox) and one MongoDB
 * database, registered in the control database's outbox_tenant table.
 * A URL is given either inline or as the name of an environment variable of
 * the relay (`*Env`), which keeps the secret out of the table.
 */
export interface TenantRecord {
  id: string;
  databaseUrl: string | null;
  databaseUrlEnv: string | null;
  mongoUrl: string | null;
  mongoUrlEnv: string | null;
  mongoDb: string;
  /**
   * Where the tenant's LISTEN connects, when databaseUrl goes through a
   * transaction pooler (LISTEN needs a session of its own): inline or as a
   * variable, like the others. Neither: LISTEN on databaseUrl.
   */
  listenDatabaseUrl: string | null;
  listenDatabaseUrlEnv: string | null;
  paused: boolean;
  weight: number;
  owner: string | null;
  leaseExpiresAt: Date | null;
  health: 'healthy' | 'unhealthy' | null;
  healthReason: string | null;
  healthAt: Date | null;
}

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const MONGO_DB_PATTERN = /^[A-Za-z0-9_-]{1,63}$/;

export function rowToTenant(row: Record<string, unknown>): TenantRecord {
  return {
    id: row.id as string,
    databaseUrl: (row.database_url as string | null) ?? null,
    databaseUrlEnv: (row.database_url_env as string | null) ?? null,
    mongoUrl: (row.mongo_url as string | null) ?? null,
    mongoUrlEnv: (row.mongo_url_env as string | null) ?? null,
    mongoDb: row.mongo_db as string,
    listenDatabaseUrl: (row.listen_database_url as string | null) ?? null,
    listenDatabaseUrlEnv: (row.listen_database_url_env as string | null) ?? null,
    paused: row.paused as boolean,
    weight: row.weight as number,
    owner: (row.owner as string | null) ?? null,
    leaseExpiresAt: (row.lease_expires_at as Date | null) ?? null,
    health: (row.health as 'healthy' | 'unhealthy' | null) ?? null,
    healthReason: (row.health_reason as string | null) ?? null,
    healthAt: (row.health_at as Date | null) ?? null,
  };
}

export const TENANT_COLUMNS = 'id, database_url, database_url_env, mongo_url, mongo_url_env, mongo_db, listen_database_url, listen_database_url_env, paused, weight, owner, lease_expires_at, health, health_reason, health_at';
