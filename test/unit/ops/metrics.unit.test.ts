import { describe, expect, it } from 'vitest';
import { register as globalRegistry } from 'prom-client';
import { createRelayMetrics } from '../../../src/ops/metrics.ts';

const NAMES = [
  'outbox_relay_events_delivered_total',
  'outbox_relay_events_failed_total',
  'outbox_relay_events_dead_total',
  'outbox_relay_missed_notifications_total',
  'outbox_relay_sink_unavailable_total',
  'outbox_relay_claims_total',
  'outbox_relay_listener_reconnects_total',
  'outbox_relay_pending_events',
  'outbox_relay_oldest_pending_seconds',
  'outbox_relay_dead_events',
  'outbox_relay_in_flight_events',
  'outbox_relay_relays_alive',
  'outbox_relay_listener_connected',
  'outbox_relay_reconcile_last_run_timestamp_seconds',
  'outbox_relay_reconcile_problems',
  'outbox_relay_reconcile_last_ok',
  'outbox_relay_batch_duration_seconds',
  'outbox_relay_commit_to_applied_seconds',
];

describe('createRelayMetrics', () => {
  it('exposes every relay metric the dashboards and alerts read', async () => {
    const text = await createRelayMetrics({ defaultMetrics: false }).registry.metrics();
    for (const name of NAMES) expect(text, name).toContain(`# TYPE ${name} `);
  });

  it('keeps its own registry: two relays in one process do not collide, the global registry stays empty', async () => {
    const a = createRelayMetrics();
    const b = createRelayMetrics();
    a.delivered.inc(3);
    expect(await b.registry.getSingleMetricAsString('outbox_relay_events_delivered_total')).toContain('outbox_relay_events_delivered_total 0');
    expect(await a.registry.getSingleMetricAsString('outbox_relay_events_delivered_total')).toContain('outbox_relay_events_delivered_total 3');
    expect(await globalRegistry.metrics()).not.toContain('outbox_relay_');
  });

  it('includes process metrics under their standard names unless turned off', async () => {
    expect(await createRelayMetrics().registry.metrics()).toContain('process_cpu_seconds_total');
    expect(await createRelayMetrics({ defaultMetrics: false }).registry.metrics()).not.toContain('process_cpu_seconds_total');
  });

  it('exports the permanent-failure series at 0 before the first failure, so rate() sees the first one', async () => {
    const text = await createRelayMetrics({ defaultMetrics: false }).registry.metrics();
    expect(text).toContain('outbox_relay_events_failed_total{kind="permanent"} 0');
  });

  it('buckets batch durations from 1 ms to 10 s, and time in outbox per aggregate type from 10 ms to 300 s with an exact 1 s bucket', async () => {
    const m = createRelayMetrics({ defaultMetrics: false });
    m.batchDuration.observe(0.0005);
    m.commitToApplied.observe({ aggregate_type: 'transaction' }, 0.001);
    m.commitToApplied.observe({ aggregate_type: 'operation' }, 0.9);
    m.commitToApplied.observe({ aggregate_type: 'operation' }, 1.2);
    const text = await m.registry.metrics();
    expect(text).toContain('outbox_relay_batch_duration_seconds_bucket{le="0.001"} 1');
    expect(text).toContain('outbox_relay_batch_duration_seconds_bucket{le="10"} 1');
    expect(text).toContain('outbox_relay_commit_to_applied_seconds_bucket{le="0.01",aggregate_type="transaction"} 1');
    expect(text).toContain('outbox_relay_commit_to_applied_seconds_bucket{le="300",aggregate_type="transaction"} 1');
    // "p99 under a second?" is the 1 s bucket over the count: here one of two operation events.
    expect(text).toContain('outbox_relay_commit_to_applied_seconds_bucket{le="1",aggregate_type="operation"} 1');
    expect(text).toContain('outbox_relay_commit_to_applied_seconds_count{aggregate_type="operation"} 2');
  });

  it('reads the lag gauges once per scrape, at scrape time, and keeps the last values when the read fails', async () => {
    let reads = 0;
    let fail = false;
    const m = createRelayMetrics({
      defaultMetrics: false,
      sampleLag: async () => {
        reads++;
        if (fail) throw new Error('database down');
        return { pendingCount: 12, oldestPendingSeconds: 3.5, deadCount: 2, inFlightCount: 4, relaysAlive: 3 };
      },
    });
    expect(reads).toBe(0);
    const text = await m.registry.metrics();
    expect(reads).toBe(1);
    for (const line of ['outbox_relay_pending_events 12', 'outbox_relay_oldest_pending_seconds 3.5', 'outbox_relay_dead_events 2', 'outbox_relay_in_flight_events 4', 'outbox_relay_relays_alive 3']) {
      expect(text).toContain(line);
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
    fail = true;
    const after = await m.registry.metrics();
    expect(reads).toBe(2);
    expect(after).toContain('outbox_relay_pending_events 12');
  });
});
