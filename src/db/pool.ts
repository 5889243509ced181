import pg from 'pg';

/**
 * What the relay's own SQL needs: a node-postgres pool. The outbox and relay
 * modules take this rather than the drizzle database (Db, which has the same
 * `$client`), so the relay process never loads drizzle-orm: importing it costs
 * about 230 MiB of V8 heap at start on Node 24 (measured: a bare process
 * 44 MiB peak RSS, after `import 'drizzle-orm/node-postgres'` 283 MiB), more
 * than the relay's whole memory budget.
 */
export interface SqlDb {
  readonly $client: pg.Pool;
  /** How `$client` reaches PostgreSQL (default 'transaction': assume a transaction-pooling PgBouncer). */
  readonly poolMode?: PoolMode;
}

/**
 * What may be assumed to survive between two transactions on one pooled
 * client. 'transaction' (the default, safe everywhere): nothing, because a
 * transaction-pooling PgBouncer hands each transaction whichever server
 * connection is free, so no named prepared statements, no session advisory
 * locks, no `SET` without `LOCAL`, no temp table outliving its transaction.
 * 'session': DATABASE_URL is direct or session-pooled, so session state is
 * ours until the client is closed; the hot statements are then prepared once
 * per connection (README, "Deployment: PostgreSQL poolers").
 */
export type PoolMode = 'transaction' | 'session';

export interface PoolOptions {
  max?: number;
  applicationName?: string;
  statementTimeoutMs?: number;
}

export function createPool(databaseUrl: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'outbox-relay',
    connectionTimeoutMillis: 10_000,
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
