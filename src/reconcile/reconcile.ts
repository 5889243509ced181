import { toSqlDb } from '../db/toSqlDb.ts';
import { silentLogger } from '../logger.ts';
import { checkBalances } from './checkBalances.ts';
import { checkDoubleEntry } from './checkDoubleEntry.ts';
import { checkMetadataContent } from './checkMetadataContent.ts';
import { checkMetadataSync } from './checkMetadataSync.ts';
import { checkOrphanDocuments } from './checkOrphanDocuments.ts';
import { checkOrphanTransactions } from './checkOrphanTransactions.ts';
import { checkOutboxHealth } from './checkOutboxHealth.ts';
import { CHECK_NAMES, type CheckContext, type CheckName, type CheckResult, type ReconcileDeps, type ReconcileOptions, type ReconcileReport } from './reconcileTypes.ts';

export const DEFAULT_SAMPLE_LIMIT = 20;
export const DEFAULT_PAGE_SIZE = 1000;
export const DEFAULT_PENDING_OLDER_THAN_SECONDS = 300;

const CHECKS: Record<CheckName, (ctx: CheckContext) => Promise<CheckResult>> = {
  'metadata-sync': checkMetadataSync,
  'metadata-content': checkMetadataContent,
  'orphan-documents': checkOrphanDocuments,
  'orphan-transactions': checkOrphanTransactions,
  'double-entry': checkDoubleEntry,
  balances: checkBalances,
  'outbox-health': checkOutboxHealth,
};

/**
 * Check that Postgres, MongoDB and the outbox agree; with `repair`, re-enqueue
 * events for metadata drift (only that, only through the outbox).
 *
 * Checks run one after another (a reconcile should not compete with the
 * writers for more than one connection). `ok` is false when any check found a
 * problem, including drift that `repair` just queued a fix for: the fix is
 * proven by the next run. Throws when a database cannot be read (the CLI's
 * exit code 2); bad options throw RangeError.
 */
export async function reconcile(deps: ReconcileDeps, options: ReconcileOptions = {}): Promise<ReconcileReport> {
  if (options.poolMode !== undefined && !['transaction', 'session'].includes(options.poolMode)) {
    throw new RangeError(`reconcile: poolMode must be transaction or session (got ${String(options.poolMode)})`);
  }
  const ctx: CheckContext = {
    ...deps,
    db: toSqlDb(deps.db, options.poolMode),
    logger: (deps.logger ?? silentLogger).child({ component: 'reconcile' }),
    sampleLimit: wholeNumber('sampleLimit', options.sampleLimit ?? DEFAULT_SAMPLE_LIMIT, 0),
    pageSize: wholeNumber('pageSize', options.pageSize ?? DEFAULT_PAGE_SIZE, 1),
    pendingOlderThanSeconds: nonNegative('pendingOlderThanSeconds', options.pendingOlderThanSeconds ?? DEFAULT_PENDING_OLDER_THAN_SECONDS),
    repair: options.repair === true,
    repairAhead: options.repairAhead === true,
    strategy: 'keyset',
  };
  if (ctx.repairAhead && !ctx.repair) throw new RangeError('reconcile: repairAhead needs repair');
  const names = options.checks ?? CHECK_NAMES;
  for (const name of names) if (!(name in CHECKS)) throw new RangeError(`reconcile: unknown check ${JSON.stringify(name)} (known: ${CHECK_NAMES.join(', ')})`);

  const strategy = options.strategy ?? 'auto';
  if (!['auto', 'keyset', 'scan'].includes(strategy)) throw new RangeError(`reconcile: strategy must be auto, keyset or scan (got ${String(strategy)})`);
  ctx.strategy = strategy === 'auto' ? await detectStrategy(deps.mongoDb) : strategy;

  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const checks: Partial<Record<CheckName, CheckResult>> = {};
  for (const name of CHECK_NAMES.filter((n) => names.includes(n))) {
    const t0 = Date.now();
    checks[name] = await CHECKS[name](ctx);
    ctx.logger.debug({ check: name, ms: Date.now() - t0, problems: checks[name].problems, checked: checks[name].checked }, 'check done');
  }
  const ok = Object.values(checks).every((c) => c.problems === 0);
  const report: ReconcileReport = { ok, startedAt, durationMs: Date.now() - started, checks };
  ctx.logger.info({ ok, durationMs: report.durationMs, problems: Object.fromEntries(Object.entries(checks).map(([k, c]) => [k, c.problems])) }, 'reconcile done');
  return report;
}

/** FerretDB answers buildInfo with `ferretdbVersion`; its finds are full scans, so it gets `scan`. */
async function detectStrategy(mongoDb: ReconcileDeps['mongoDb']): Promise<'keyset' | 'scan'> {
  const info = await mongoDb.admin().command({ buildInfo: 1 });
  return 'ferretdbVersion' in info ? 'scan' : 'keyset';
}

function wholeNumber(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`reconcile: ${name} must be a whole number ≥ ${min} (got ${value})`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!(typeof value === 'number' && value >= 0 && Number.isFinite(value))) throw new RangeError(`reconcile: ${name} must be a number ≥ 0 (got ${value})`);
  return value;
}
