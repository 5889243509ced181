/**
 * `reconcile --all-tenants`: every registered tenant (paused ones too: their
 * data can drift like any other's), one after another, each against its own
 * PostgreSQL and MongoDB database. A tenant that cannot be reconciled is
 * reported with its reason and the others still run.
 */
import type { PoolMode } from '../db/sqlDb.ts';
import type { Logger } from '../logger.ts';
import { reconcileDatabase, type ReconcileRun } from '../reconcile/reconcileDatabase.ts';
import { CHECK_NAMES, type ReconcileReport } from '../reconcile/reconcileTypes.ts';
import { scrub } from '../runtime/tenantSlot.ts';
import { listTenants } from './listTenants.ts';
import { resolveTenantUrls } from './resolveTenantUrls.ts';
import { controlUrl, withControl, type Overrides } from './tenantCommands.ts';

export type TenantReconcileOutcome =
  | { id: string; outcome: 'clean'; report: ReconcileReport }
  | { id: string; outcome: 'drift'; report: ReconcileReport }
  | { id: string; outcome: 'error'; error: string };

export interface AllTenantsSummary {
  tenants: TenantReconcileOutcome[];
  summary: { clean: number; drift: number; error: number };
}

/** 2 when any tenant could not be reconciled, else 1 when any drifted, else 0. */
export function allTenantsExitCode(summary: AllTenantsSummary['summary']): 0 | 1 | 2 {
  if (summary.error > 0) return 2;
  return summary.drift > 0 ? 1 : 0;
}

/** One line per tenant: its outcome and, when it drifted, the checks that found problems. */
export function formatAllTenants(result: AllTenantsSummary): string {
  if (result.tenants.length === 0) return 'no tenants registered';
  const width = Math.max(...result.tenants.map((t) => t.id.length));
  const lines = result.tenants.map((t) => {
    const id = `tenant ${t.id.padEnd(width)}`;
    if (t.outcome === 'error') return `${id}  ERROR  ${t.error}`;
    const ran = CHECK_NAMES.filter((name) => t.report.checks[name] !== undefined);
    if (t.outcome === 'clean') return `${id}  clean  ${ran.length} checks, ${t.report.durationMs} ms`;
    const problems = ran.filter((name) => (t.report.checks[name]?.problems ?? 0) > 0).map((name) => `${name}: ${t.report.checks[name]?.problems}`);
    return `${id}  DRIFT  ${problems.join(', ')}  (details: outbox-relay reconcile --tenant ${t.id})`;
  });
  const { clean, drift, error } = result.summary;
  lines.push('', `${result.tenants.length} tenants: ${clean} clean, ${drift} drifted, ${error} could not be reconciled`);
  return lines.join('\n');
}

/** Run, print (text or `--json`) and return the exit code. */
export async function reconcileAllTenants(
  options: Record<string, unknown>,
  overrides: Overrides,
  settings: { run: ReconcileRun; poolMode: PoolMode; json: boolean; logger: Logger; scrub: (text: string) => string },
): Promise<0 | 1 | 2> {
  const { controlDatabaseUrl, mongoUrl } = controlUrl(options, overrides);
  const tenants = await withControl(controlDatabaseUrl, listTenants);
  const outcomes: TenantReconcileOutcome[] = [];
  for (const tenant of tenants) {
    const urls = resolveTenantUrls(tenant, process.env, mongoUrl);
    if (!urls.ok) {
      outcomes.push({ id: tenant.id, outcome: 'error', error: urls.reason });
      continue;
    }
    try {
      const report = await reconcileDatabase(
        { databaseUrl: urls.databaseUrl, mongoUrl: urls.mongoUrl, mongoDb: tenant.mongoDb, poolMode: settings.poolMode },
        settings.run,
        settings.logger.child({ tenant: tenant.id }),
      );
      outcomes.push({ id: tenant.id, outcome: report.ok ? 'clean' : 'drift', report });
    } catch (error) {
      // The tenant's URLs are not among the CLI's own secrets: drop any URL from the reason.
      outcomes.push({ id: tenant.id, outcome: 'error', error: settings.scrub(scrub(error)) });
    }
  }
  const count = (outcome: TenantReconcileOutcome['outcome']) => outcomes.filter((o) => o.outcome === outcome).length;
  const result: AllTenantsSummary = { tenants: outcomes, summary: { clean: count('clean'), drift: count('drift'), error: count('error') } };
  console.log(settings.json ? JSON.stringify(result, null, 2) : formatAllTenants(result));
  return allTenantsExitCode(result.summary);
}
