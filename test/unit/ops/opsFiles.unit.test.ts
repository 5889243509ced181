import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createRelayMetrics } from '../../../src/ops/metrics.ts';

const alerts = readFileSync(new URL('../../../ops/prometheus-alerts.yml', import.meta.url), 'utf8');
const dashboard = readFileSync(new URL('../../../ops/grafana-dashboard.json', import.meta.url), 'utf8');

describe('ops files', () => {
  it('reference only outbox_relay_* series the relay exports', async () => {
    const registry = createRelayMetrics({ defaultMetrics: false }).registry;
    const names = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    const referenced = new Set([...`${alerts}\n${dashboard}`.matchAll(/outbox_relay_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')));
    expect([...referenced].filter((name) => !names.has(name))).toEqual([]);
  });

  it('alert on time in outbox p99 above 1 s for 5 minutes, and chart it by aggregate type', () => {
    const rule = alerts.slice(alerts.indexOf('alert: OutboxTimeInOutboxP99High'));
    expect(rule).toMatch(/expr: histogram_quantile\(0\.99, sum by \(le\) \(rate\(outbox_relay_commit_to_applied_seconds_bucket\[5m\]\)\)\) > 1\n\s+for: 5m/);
    expect(JSON.parse(dashboard).panels.some((p: { targets?: { expr: string }[] }) => p.targets?.some((t) => t.expr.includes('sum by (le, aggregate_type) (rate(outbox_relay_commit_to_applied_seconds_bucket')))).toBe(true);
  });
});
