import type { PoolMode } from '../db/sqlDb.ts';
import type { Logger } from '../logger.ts';
import type { CheckName, ReconcileReport } from './reconcileTypes.ts';

/** One database pair to reconcile: a ledger's PostgreSQL and its MongoDB database. */
export interface ReconcileTarget {
  databaseUrl: string;
  mongoUrl: string;
  mongoDb: string;
  poolMode: PoolMode;
}

export interface ReconcileRun {
  checks: CheckName[];
  repair: boolean;
  repairAhead: boolean;
  sampleLimit: number;
  pageSize: number;
  pendingOlderThanSeconds: number;
  /** With repair: who and why, for the audit log. */
  actor: string;
  reason: string | null;
}

/**
 * `reconcile` against one target, as the CLI runs it: its own connections
 * (closed before returning), a repair recorded in the audit log before it runs,
 * the run recorded in reconcile_run. Throws when it cannot run (a database
 * unreachable, the schema missing); the report says whether the data agrees.
 */
export async function reconcileDatabase(target: ReconcileTarget, run: ReconcileRun, logger: Logger): Promise<ReconcileReport> {
  // Loaded here: the MongoDB driver takes seconds to load on a busy machine.
  const [{ MongoClient }, { reconcile }, { createPool }, { poolDb }, { recordReconcileRun }] = await Promise.all([
    import('mongodb'),
    import('./reconcile.ts'),
    import('../db/pool.ts'),
    import('../db/toSqlDb.ts'),
    import('./recordReconcileRun.ts'),
  ]);
  const pool = createPool(target.databaseUrl, { max: 4, applicationName: 'outbox-relay-reconcile' });
  const mongo = new MongoClient(target.mongoUrl, { serverSelectionTimeoutMS: 10_000 });
  try {
    await mongo.connect();
    const db = poolDb(pool, target.poolMode);
    if (run.repair) {
      // A repair changes data: recorded before it runs (a failed run was still attempted).
      const { recordAudit } = await import('../control/recordAudit.ts');
      await recordAudit(db, { actor: run.actor, action: 'repair', target: 'reconcile --repair', reason: run.reason, details: { checks: run.checks } });
    }
    const report = await reconcile(
      { db, mongoDb: mongo.db(target.mongoDb), logger },
      { checks: run.checks, repair: run.repair, repairAhead: run.repairAhead, sampleLimit: run.sampleLimit, pageSize: run.pageSize, pendingOlderThanSeconds: run.pendingOlderThanSeconds },
    );
    await recordReconcileRun(db, report, 'cli').catch((error: unknown) => logger.warn({ err: error }, 'could not record the reconcile run'));
    return report;
  } finally {
    await Promise.allSettled([pool.end(), mongo.close()]);
  }
}
