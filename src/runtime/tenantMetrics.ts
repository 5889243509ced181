import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { TenantView } from './multiTenantRelay.ts';
import type { LagReading } from './tenantLag.ts';
import type { TenantLabels } from './tenantLabels.ts';

/**
 * Per-tenant gauges: pending events (live for a hot tenant, its heartbeat's
 * sample for a cold one, so a scrape never opens a cold tenant's connection)
 * and health by tenant. Label cardinality is capped (tenantLabels.ts, the same labels as
 * the delivery counters): tenants beyond the cap are summed under
 * tenant="_other", so a fleet of thousands of tenants cannot blow up the
 * time-series database.
 */
export function registerTenantMetrics(registry: Registry, tenants: () => TenantView[], labels: TenantLabels): void {
  // One reading per tenant per scrape, shared by the two gauges below: prom-client
  // calls every collect() in the same tick (Promise.all), so both get this promise.
  let scrape: Promise<Map<string, { pending: number; age: number }>> | undefined;
  const readings = () =>
    (scrape ??= (async () => {
      const all = tenants();
      // A cold tenant's reading is its last heartbeat's sample: no connection opened (tenantLag.ts).
      const read = await Promise.all(all.map(async (t) => (t.parts ? await t.parts.lag.read().catch((): LagReading | undefined => undefined) : undefined)));
      const sums = new Map<string, { pending: number; age: number }>();
      all.forEach((t, i) => {
        const reading = read[i];
        if (!reading) return;
        const label = labels.of(t.id);
        const sum = sums.get(label) ?? { pending: 0, age: 0 };
        sums.set(label, { pending: sum.pending + reading.pendingCount, age: Math.max(sum.age, reading.ageSeconds) });
      });
      return sums;
    })().finally(() => {
      scrape = undefined;
    }));
  new Gauge({
    name: 'outbox_relay_tenant_pending_events',
    help: 'Pending events per tenant served by this relay: read at scrape time from a hot tenant\'s outbox_lag, a cold tenant\'s as its last heartbeat check sampled it (see outbox_relay_tenant_pending_events_age_seconds); tenants beyond OUTBOX_RELAY_TENANT_METRICS_CAP summed under tenant="_other".',
    labelNames: ['tenant'],
    registers: [registry],
    async collect() {
      const sums = await readings();
      this.reset();
      for (const [tenant, { pending }] of sums) this.set({ tenant }, pending);
    },
  });
  new Gauge({
    name: 'outbox_relay_tenant_pending_events_age_seconds',
    help: 'How old outbox_relay_tenant_pending_events is: 0 for a hot tenant (read at the scrape), up to about one heartbeat for a cold one (sampled by its check, so a scrape opens no connection to it); the oldest under tenant="_other".',
    labelNames: ['tenant'],
    registers: [registry],
    async collect() {
      const sums = await readings();
      this.reset();
      for (const [tenant, { age }] of sums) this.set({ tenant }, age);
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
