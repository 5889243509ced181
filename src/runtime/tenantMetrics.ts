import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { readLag, type OutboxLag } from '../outbox/readLag.ts';
import type { TenantView } from './multiTenantRelay.ts';
import type { TenantLabels } from './tenantLabels.ts';

/**
 * Per-tenant gauges, read at scrape time: pending events and health by
 * tenant. Label cardinality is capped (tenantLabels.ts, the same labels as
 * the delivery counters): tenants beyond the cap are summed under
 * tenant="_other", so a fleet of thousands of tenants cannot blow up the
 * time-series database.
 */
export function registerTenantMetrics(registry: Registry, tenants: () => TenantView[], labels: TenantLabels): void {
  new Gauge({
    name: 'outbox_relay_tenant_pending_events',
    help: 'Pending events per tenant served by this relay (read from each tenant\'s outbox_lag at scrape time); tenants beyond OUTBOX_RELAY_TENANT_METRICS_CAP summed under tenant="_other".',
    labelNames: ['tenant'],
    registers: [registry],
    async collect() {
      this.reset();
      const all = tenants();
      const lags = await Promise.all(
        all.map(async (t) => (t.parts ? await readLag(t.parts.pool).catch((): OutboxLag | undefined => undefined) : undefined)),
      );
      const sums = new Map<string, number>();
      all.forEach((t, i) => {
        const lag = lags[i];
        if (lag) sums.set(labels.of(t.id), (sums.get(labels.of(t.id)) ?? 0) + lag.pendingCount);
      });
      for (const [tenant, value] of sums) this.set({ tenant }, value);
    },
  });
  new Gauge({
    name: 'outbox_relay_tenants',
    help: 'Tenants this relay serves, by temperature: hot (LISTEN, warm pool) or cold (no held connection, checked once per heartbeat). No tenant label: the count sizes connections.',
    labelNames: ['temperature'],
    registers: [registry],
    collect() {
      this.reset();
      const all = tenants();
      for (const temperature of ['hot', 'cold'] as const) this.set({ temperature }, all.filter((t) => t.temperature === temperature).length);
    },
  });
  new Gauge({
    name: 'outbox_relay_tenant_unhealthy',
    help: 'Tenants assigned to this relay that it cannot serve now (1 per named tenant; a count under tenant="_other").',
    labelNames: ['tenant'],
    registers: [registry],
    collect() {
      this.reset();
      const all = tenants();
      for (const t of all) this.inc({ tenant: labels.of(t.id) }, t.healthy ? 0 : 1);
    },
  });
}
