import pg from 'pg';

export interface PoolOptions {
  max?: number;
  applicationName?: string;
  statementTimeoutMs?: number;
  /** How long a checkout waits for a connection (default 10 s). */
  connectionTimeoutMs?: number;
}

export function createPool(databaseUrl: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'outbox-relay',
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
  });
  // An idle client that loses its connection emits 'error' on the pool; without
  // a listener that would crash the process. The next checkout reconnects.
  pool.on('error', () => {});
  // A checked-out client has no listener of the pool's: a server that goes away
  // between two statements of a transaction (a restart, a failover, PgBouncer's
  // KILL) would emit 'error' on it with nobody listening and crash the process
  // (seen in the chaos run's pg-restart). The statement in flight, or the next
  // one, fails anyway, and release() drops a client that is no longer queryable.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}
