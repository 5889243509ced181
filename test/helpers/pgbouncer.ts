/**
 * This run's PgBouncer (started by globalSetup: transaction pooling,
 * default_pool_size 4, every database name routed to the test PostgreSQL).
 */
import pg from 'pg';
import { inject } from 'vitest';

/** The same database, through PgBouncer. */
export function viaPgBouncer(databaseUrl: string): string {
  const bouncer = new URL(inject('services').pgbouncerUrl);
  const url = new URL(databaseUrl);
  url.hostname = bouncer.hostname;
  url.port = bouncer.port;
  return url.toString();
}

/** A command on PgBouncer's admin console (simple protocol only): SHOW POOLS, RECONNECT db, KILL db, RESUME db. */
export async function pgbouncerAdmin(command: string): Promise<Record<string, unknown>[]> {
  const bouncer = new URL(inject('services').pgbouncerUrl);
  const client = new pg.Client({ host: bouncer.hostname, port: Number(bouncer.port), user: decodeURIComponent(bouncer.username) || 'postgres', database: 'pgbouncer' });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query({ text: command, queryMode: 'simple' } as pg.QueryConfig)).rows as Record<string, unknown>[];
  } finally {
    await client.end().catch(() => {});
  }
}
