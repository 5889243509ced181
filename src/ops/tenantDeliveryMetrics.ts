/**
 * One tenant's view of a multi-tenant relay's delivery metrics: the same
 * RelayMetrics the drainer and deliverBatch already record into, except that
 * delivered, failed, dead and commit→applied add `tenant="<label>"` to every
 * observation. The views are real prom-client instruments, unregistered,
 * whose `inc`/`observe` forward to the registered, tenant-labelled ones, so the
 * recording code is the same in both modes.
 */
import { Counter, Histogram } from 'prom-client';
import type { RelayMetrics } from './metrics.ts';

type Labels = Record<string, string | number | undefined>;
/** The call shapes prom-client accepts: (value), (labels, value) or ({ value, labels, exemplarLabels }). */
type Recorded = [first?: number | Labels | { labels?: Labels }, value?: number];

/** The arguments of one inc/observe call, with the tenant label added. */
function withTenant(tenant: string, [first, value]: Recorded): [Labels, number | undefined] | [{ labels: Labels }] {
  if (typeof first !== 'object') return [{ tenant }, first];
  // The exemplar form: none of our label names is `labels`, whose values are strings or numbers.
  if (typeof first.labels === 'object') return [{ ...first, labels: { ...first.labels, tenant } }];
  return [{ ...(first as Labels), tenant }, value];
}

/**
 * `inc`/`observe` set as own properties (prom-client itself assigns them per
 * instance in its constructors, so a subclass method would never be called).
 */
function forwardCounter(target: Counter<string>, tenant: string, labelNames: string[]): Counter<string> {
  const view = new Counter({ name: 'outbox_relay_tenant_view', help: 'forwards to the tenant-labelled counter', labelNames, registers: [] });
  const inc = (...args: Recorded) => (target.inc as (...a: unknown[]) => void)(...withTenant(tenant, args));
  Object.defineProperty(view, 'inc', { value: inc });
  return view;
}

function forwardHistogram(target: Histogram<string>, tenant: string, labelNames: string[]): Histogram<string> {
  const view = new Histogram({ name: 'outbox_relay_tenant_view', help: 'forwards to the tenant-labelled histogram', labelNames, registers: [] });
  const observe = (...args: Recorded) => (target.observe as (...a: unknown[]) => void)(...withTenant(tenant, args));
  Object.defineProperty(view, 'observe', { value: observe });
  return view;
}

/**
 * The metrics one tenant records into. `metrics` must come from
 * createRelayMetrics({ perTenant: true }); `tenant` is the label (the tenant id,
 * or "_other" beyond the cap: see runtime/tenantLabels.ts). The tenant's series
 * start at 0, so rate() sees its first delivery.
 */
export function tenantDeliveryMetrics(metrics: RelayMetrics, tenant: string): RelayMetrics {
  const failed: Counter<string> = metrics.failed;
  metrics.delivered.inc({ tenant }, 0);
  metrics.dead.inc({ tenant }, 0);
  failed.inc({ kind: 'permanent', tenant }, 0);
  return {
    ...metrics,
    delivered: forwardCounter(metrics.delivered, tenant, []),
    failed: forwardCounter(failed, tenant, ['kind']),
    dead: forwardCounter(metrics.dead, tenant, []),
    commitToApplied: forwardHistogram(metrics.commitToApplied, tenant, ['aggregate_type']),
  };
}
