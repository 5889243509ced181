import { describe, expect, it } from 'vitest';
import { createRelayMetrics } from '../../../src/ops/metrics.ts';
import { tenantDeliveryMetrics } from '../../../src/ops/tenantDeliveryMetrics.ts';

describe('tenantDeliveryMetrics', () => {
  it('records each tenant view into the shared instruments with its tenant label, starting its counters at 0', async () => {
    const m = createRelayMetrics({ defaultMetrics: false, perTenant: true });
    const a = tenantDeliveryMetrics(m, 'a');
    const b = tenantDeliveryMetrics(m, 'b');
    a.delivered.inc(3);
    b.delivered.inc(5);
    b.failed.inc({ kind: 'permanent' }, 2);
    b.dead.inc(1);
    a.commitToApplied.observe({ aggregate_type: 'transaction' }, 0.2);
    const text = await m.registry.metrics();
    expect(text).toContain('outbox_relay_events_delivered_total{tenant="a"} 3');
    expect(text).toContain('outbox_relay_events_delivered_total{tenant="b"} 5');
    expect(text).toContain('outbox_relay_events_failed_total{kind="permanent",tenant="a"} 0');
    expect(text).toContain('outbox_relay_events_failed_total{kind="permanent",tenant="b"} 2');
    expect(text).toContain('outbox_relay_events_dead_total{tenant="a"} 0');
    expect(text).toContain('outbox_relay_events_dead_total{tenant="b"} 1');
    expect(text).toContain('outbox_relay_commit_to_applied_seconds_count{aggregate_type="transaction",tenant="a"} 1');
    // No series without a tenant label in multi-tenant mode.
    expect(text).not.toMatch(/^outbox_relay_events_(delivered|dead)_total \d/m);
    expect(text).not.toContain('outbox_relay_events_failed_total{kind="permanent"} ');
  });

  it('leaves the single-tenant metrics without a tenant label', async () => {
    const m = createRelayMetrics({ defaultMetrics: false });
    m.delivered.inc(2);
    m.commitToApplied.observe({ aggregate_type: 'operation' }, 0.1);
    const text = await m.registry.metrics();
    expect(text).toContain('outbox_relay_events_delivered_total 2');
    expect(text).toContain('outbox_relay_commit_to_applied_seconds_count{aggregate_type="operation"} 1');
    expect(text).not.toContain('tenant=');
  });
});
