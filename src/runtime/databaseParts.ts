import type pg from 'pg';
import { createPool } from '../db/pool.ts';
import type { PoolMode, SqlDb } from '../db/sqlDb.ts';
import { poolDb } from '../db/toSqlDb.ts';
import type { Logger } from '../logger.ts';
import type { RelayMetrics } from '../ops/metrics.ts';
import { createPgListenWake } from '../relay/pgListenWake.ts';
import type { WakeSource } from '../relay/wakeSource.ts';

export interface DatabasePartsSettings {
  databaseUrl: string;
  listenDatabaseUrl: string;
  relayId: string;
  poolSize: number;
  listen: boolean;
  heartbeatMs: number;
  poolMode: PoolMode;
}

export interface DatabaseParts {
  pool: pg.Pool;
  db: SqlDb;
  wake: WakeSource | undefined;
}

/** The connections one database needs: a bounded pool, and a LISTEN connection when wake-ups are on. */
export function openDatabaseParts(settings: DatabasePartsSettings, deps: { logger: Logger; metrics: RelayMetrics }): DatabaseParts {
  const pool = createPool(settings.databaseUrl, { max: settings.poolSize, applicationName: `outbox-relay:${settings.relayId}`.slice(0, 63) });
  // Plain SQL over the pool: the relay never loads drizzle-orm (see db/sqlDb.ts).
  const db = poolDb(pool, settings.poolMode);
  const wake = settings.listen
    ? createPgListenWake({
        connectionString: settings.listenDatabaseUrl,
        db,
        relayId: settings.relayId,
        checkIntervalMs: settings.heartbeatMs,
        logger: deps.logger.child({ component: 'listener' }),
        onReconnect: () => deps.metrics.listenerReconnects.inc(),
        onConnectionChange: (connected) => deps.metrics.listenerConnected.set(connected ? 1 : 0),
      })
    : undefined;
  return { pool, db, wake };
}
