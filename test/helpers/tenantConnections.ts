import type pg from 'pg';

/**
 * A multi-tenant relay's connections to one tenant's database, by kind, from
 * pg_stat_activity: its pool (application_name `outbox-relay:<tenant>:<relay>`)
 * and its LISTEN connection. The test's own pool is named outbox-relay-test.
 */
export async function tenantConnections(server: pg.Pool, tenant: { id: string; databaseUrl: string }): Promise<{ pool: number; listen: number }> {
  const { rows } = await server.query<{ pool: number; listen: number }>(
    `SELECT count(*) FILTER (WHERE application_name LIKE $2)::int AS pool,
            count(*) FILTER (WHERE application_name LIKE 'outbox-relay-listen:%')::int AS listen
       FROM pg_stat_activity WHERE datname = $1`,
    [new URL(tenant.databaseUrl).pathname.slice(1), `outbox-relay:${tenant.id}:%`],
  );
  return rows[0] as { pool: number; listen: number };
}
