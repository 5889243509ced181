import { randomUUID } from 'node:crypto';
import type { Db as MongoDb } from 'mongodb';
import type { SqlDb } from '../db/sqlDb.ts';
import { tryInLockedTransaction } from '../db/tryInLockedTransaction.ts';
import { toError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { CheckName, ReconcileReport } from '../reconcile/reconcileTypes.ts';
import { recordAudit } from './recordAudit.ts';

/**
 * The same key as runReconcileExclusive's RECONCILE_LOCK_KEY (a unit test
 * keeps them equal): periodic, CLI-exclusive and HTTP runs exclude each
 * other. Repeated because that module brings every reconcile check, which
 * the relay only loads once a run actually starts.
 */
export const RECONCILE_LOCK = 7_420_151_002n;

export interface ReconcileRequest {
  actor: string;
  repair: boolean;
  checks?: readonly CheckName[];
  reason: string | null;
}

export type StartOutcome = { started: true; runId: string } | { started: false; reason: 'running' };

export interface ReconcileRunner {
  /** Start a run in the background if no relay runs one; answers once the lock is held and the audit row written. */
  start(request: ReconcileRequest): Promise<StartOutcome>;
  /** Whether any relay (any session) holds the reconcile lock now. */
  running(): Promise<boolean>;
  /** The run this relay is doing, if any. */
  current(): { runId: string; startedAt: string; actor: string; repair: boolean } | undefined;
  /** Resolves when the run in progress here (if any) has finished and been recorded. */
  settled(): Promise<void>;
}

/**
 * Reconcile over HTTP, single-flight across relays: the run holds the
 * advisory lock every reconcile takes, from before the 202 until its outcome
 * is recorded, so a second request anywhere finds the lock taken (409)
 * instead of starting a second run. The lock is transaction-scoped
 * (db/tryInLockedTransaction: pooler-safe) and the outcome is recorded in
 * that transaction, so COMMIT both records the run and frees the lock. The
 * lock itself is the "running" state (pg_locks), so a relay that dies
 * mid-run leaves nothing stale behind.
 */
export function createReconcileRunner(deps: {
  db: SqlDb;
  /** The MongoDB database a run reads; may open its client on first use (a failure fails that run, recorded). */
  mongoDb: () => Promise<MongoDb>;
  logger: Logger;
  relayId: string;
  /** Added to the run's audit row (multi-tenant: the tenant). */
  auditDetails?: Record<string, unknown>;
}): ReconcileRunner {
  let current: { runId: string; startedAt: string; actor: string; repair: boolean } | undefined;
  let inFlight: Promise<unknown> = Promise.resolve();

  const run = async (tx: SqlDb, request: ReconcileRequest, runId: string, started: () => void) => {
    const startedAt = new Date();
    // On the pool, committed before the 202: a repair's effects (events it
    // enqueues) are never there without their audit row, even if the run dies.
    await recordAudit(deps.db, {
      actor: request.actor,
      action: request.repair ? 'repair' : 'reconcile',
      target: `reconcile run ${runId}`,
      reason: request.reason,
      details: { ...deps.auditDetails, checks: request.checks ?? 'all', relay: deps.relayId },
    });
    current = { runId, startedAt: startedAt.toISOString(), actor: request.actor, repair: request.repair };
    started();
    const ranBy = `${request.actor} via ${deps.relayId}`.slice(0, 200);
    try {
      // Loaded on first use: a relay that is never asked to reconcile never loads the checks.
      const [{ reconcile }, { recordReconcileRun }] = await Promise.all([
        import('../reconcile/reconcile.ts'),
        import('../reconcile/recordReconcileRun.ts'),
      ]);
      let report: ReconcileReport;
      try {
        report = await reconcile(
          { db: deps.db, mongoDb: await deps.mongoDb(), logger: deps.logger },
          { repair: request.repair, ...(request.checks ? { checks: request.checks } : {}) },
        );
      } catch (error) {
        const { recordFailedReconcileRun } = await import('../reconcile/recordReconcileRun.ts');
        deps.logger.warn({ err: error, runId }, 'reconcile run failed');
        await recordFailedReconcileRun(tx, { startedAt, ranBy, runId, error: toError(error).message });
        return;
      }
      await recordReconcileRun(tx, report, ranBy, runId);
      deps.logger.info({ runId, ok: report.ok, durationMs: report.durationMs }, 'reconcile run finished');
    } catch (error) {
      deps.logger.error({ err: error, runId }, 'could not record the reconcile run');
    } finally {
      current = undefined;
    }
  };

  return {
    start(request) {
      const runId = randomUUID();
      return new Promise<StartOutcome>((resolve, reject) => {
        let answered = false;
        const started = () => {
          answered = true;
          resolve({ started: true, runId });
        };
        inFlight = tryInLockedTransaction(deps.db, RECONCILE_LOCK, (tx) => run(tx, request, runId, started)).then(
          (outcome) => {
            if (!outcome.ran) resolve({ started: false, reason: 'running' });
          },
          (error: unknown) => {
            // Before the 202 (lock or audit row failed): nothing ran, the caller hears it.
            if (!answered) reject(error);
            else deps.logger.error({ err: error, runId }, 'reconcile run failed');
          },
        );
      });
    },
    async running() {
      // A bigint advisory lock shows in pg_locks as (classid, objid) = (high, low) 32 bits, objsubid 1.
      const { rows } = await deps.db.query<{ held: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_locks
                         WHERE locktype = 'advisory' AND granted AND objsubid = 1
                           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                           AND classid = $1::bigint::oid AND objid = $2::bigint::oid) AS held`,
        [String(RECONCILE_LOCK >> 32n), String(RECONCILE_LOCK & 0xffff_ffffn)],
      );
      return rows[0]?.held === true;
    },
    current: () => current,
    settled: () => inFlight.then(() => undefined, () => undefined),
  };
}
