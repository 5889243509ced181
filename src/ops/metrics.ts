/**
 * The relay's Prometheus metrics, on a registry of its own (never the global
 * one), so several relays in one process — tests, the demo, an application
 * that embeds the relay and has its own metrics — don't collide.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { OutboxLag } from '../outbox/readLag.ts';

export interface RelayMetrics {
  registry: Registry;
  delivered: Counter;
  failed: Counter<'kind'>;
  dead: Counter;
  missedNotifications: Counter;
  sinkUnavailable: Counter;
  claims: Counter;
  listenerReconnects: Counter;
  pending: Gauge;
  oldestPendingSeconds: Gauge;
  deadEvents: Gauge;
  inFlight: Gauge;
  relaysAlive: Gauge;
  listenerConnected: Gauge;
  paused: Gauge<'scope'>;
  reconcileLastRun: Gauge;
  reconcileProblems: Gauge<'check'>;
  reconcileLastOk: Gauge;
  batchDuration: Histogram;
  commitToApplied: Histogram<'aggregate_type'>;
}

export interface RelayMetricsOptions {
  /**
   * Process metrics (CPU, memory, event-loop lag, GC) under their standard
   * names (`process_*`, `nodejs_*`) so stock Node.js dashboards work; default
   * true. Turn off when the embedding application already exports them.
   */
  defaultMetrics?: boolean;
  /**
   * Reads the outbox-wide lag (outbox_lag) for the pending, oldest, dead,
   * in-flight and relays-alive gauges. Called when /metrics is scraped, not
   * on a timer: `outbox_lag` counts the pending rows, which on a large backlog
   * is real work, and N relays polling it every heartbeat would do that work
   * N times a second for nobody. Concurrent collections share one read.
   */
  sampleLag?: () => Promise<LagSample>;
  /**
   * Multi-tenant: the delivery counters and the commit→applied histogram also
   * carry a `tenant` label; each tenant records through its own view of them
   * (tenantDeliveryMetrics.ts). Off in single-tenant mode, whose names and
   * labels stay as they are.
   */
  perTenant?: boolean;
}

/** Seconds; see commitToApplied. */
export const TIME_IN_OUTBOX_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30, 60, 300];

/** The part of readLag's answer the gauges show. */
export type LagSample = Pick<OutboxLag, 'pendingCount' | 'oldestPendingSeconds' | 'deadCount' | 'inFlightCount' | 'relaysAlive'>;

export function createRelayMetrics(options: RelayMetricsOptions = {}): RelayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const lag = sharedLagReader(options.sampleLag);
  const tenant = options.perTenant ? ['tenant'] : [];
  const metrics: RelayMetrics = {
    registry,
    delivered: new Counter({ name: 'outbox_relay_events_delivered_total', help: 'Events applied to MongoDB and marked delivered by this relay.', labelNames: tenant, registers }),
    failed: new Counter({ name: 'outbox_relay_events_failed_total', help: 'Event attempts that failed permanently for that event (it retries with backoff).', labelNames: ['kind', ...tenant], registers }),
    dead: new Counter({ name: 'outbox_relay_events_dead_total', help: 'Events this relay parked as dead after max attempts.', labelNames: tenant, registers }),
    missedNotifications: new Counter({ name: 'outbox_relay_missed_notifications_total', help: 'Polls of an idle relay that found work older than a poll interval (a NOTIFY did not wake it).', registers }),
    sinkUnavailable: new Counter({ name: 'outbox_relay_sink_unavailable_total', help: 'Batches released because MongoDB stayed unavailable through the retries.', registers }),
    claims: new Counter({ name: 'outbox_relay_claims_total', help: 'Non-empty batches claimed.', registers }),
    listenerReconnects: new Counter({ name: 'outbox_relay_listener_reconnects_total', help: 'Times the LISTEN connection was lost and rebuilt.', registers }),
    pending: new Gauge({ name: 'outbox_relay_pending_events', help: 'Pending events in the outbox (all relays), read from outbox_lag at scrape time.', registers, collect: lag((gauge, sample) => gauge.set(sample.pendingCount)) }),
    oldestPendingSeconds: new Gauge({ name: 'outbox_relay_oldest_pending_seconds', help: 'Age of the oldest pending event.', registers, collect: lag((gauge, sample) => gauge.set(sample.oldestPendingSeconds ?? 0)) }),
    deadEvents: new Gauge({ name: 'outbox_relay_dead_events', help: 'Dead events waiting for an operator.', registers, collect: lag((gauge, sample) => gauge.set(sample.deadCount)) }),
    inFlight: new Gauge({ name: 'outbox_relay_in_flight_events', help: 'Pending events under a live claim.', registers, collect: lag((gauge, sample) => gauge.set(sample.inFlightCount)) }),
    relaysAlive: new Gauge({ name: 'outbox_relay_relays_alive', help: 'Relays with a fresh heartbeat.', registers, collect: lag((gauge, sample) => gauge.set(sample.relaysAlive)) }),
    listenerConnected: new Gauge({ name: 'outbox_relay_listener_connected', help: '1 while the LISTEN connection is up.', registers }),
    paused: new Gauge({ name: 'outbox_relay_paused', help: 'Operator pauses this relay honours (relay_pause, read every heartbeat): 1 per paused scope, scope="*" for the whole fleet; 0 at scope="*" when nothing is paused.', labelNames: ['scope'], registers }),
    reconcileLastRun: new Gauge({ name: 'outbox_relay_reconcile_last_run_timestamp_seconds', help: 'When this relay last ran a periodic reconciliation.', registers }),
    reconcileProblems: new Gauge({ name: 'outbox_relay_reconcile_problems', help: 'Problems the last reconciliation found, per check.', labelNames: ['check'], registers }),
    reconcileLastOk: new Gauge({ name: 'outbox_relay_reconcile_last_ok', help: '1 when the last reconciliation was clean.', registers }),
    batchDuration: new Histogram({ name: 'outbox_relay_batch_duration_seconds', help: 'Apply + mark time of one claimed batch.', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers }),
    // Time in outbox. Buckets are dense around 1 s (0.75, 1, 1.5) so "is p99
    // under a second?" is read off the 1 s bucket exactly, not interpolated.
    commitToApplied: new Histogram({
      name: 'outbox_relay_commit_to_applied_seconds',
      help: 'Time in outbox, per event: from the outbox row being written (created_at) to MongoDB acknowledging it.',
      labelNames: ['aggregate_type', ...tenant],
      buckets: TIME_IN_OUTBOX_BUCKETS,
      registers,
    }),
  };
  // Export the series at 0 from the start: rate() and increase() miss the
  // first failure of a series that appears only when it happens (per tenant:
  // when the tenant's view is made).
  if (!options.perTenant) metrics.failed.inc({ kind: 'permanent' }, 0);
  metrics.paused.set({ scope: '*' }, 0);
  return metrics;
}

/**
 * One outbox_lag read per scrape, shared by the five lag gauges (prom-client
 * collects them together). Without a reader the gauges keep their last value.
 */
function sharedLagReader(read: (() => Promise<LagSample>) | undefined) {
  let inFlight: Promise<LagSample | undefined> | undefined;
  const sample = (): Promise<LagSample | undefined> => {
    if (!read) return Promise.resolve(undefined);
    // A failed read leaves the gauges as they were; /readyz reports the database.
    inFlight ??= read()
      .catch(() => undefined)
      .finally(() => setTimeout(() => (inFlight = undefined), 100).unref());
    return inFlight;
  };
  return (apply: (gauge: Gauge, sample: LagSample) => void) =>
    async function collect(this: Gauge): Promise<void> {
      const value = await sample();
      if (value) apply(this, value);
    };
}
