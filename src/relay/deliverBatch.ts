import type { SqlDb } from '../db/sqlDb.ts';
import type { Logger } from '../logger.ts';
import type { RelayMetrics } from '../ops/metrics.ts';
import { markDelivered } from '../outbox/markDelivered.ts';
import { markFailed } from '../outbox/markFailed.ts';
import { releaseClaims } from '../outbox/releaseClaims.ts';
import type { EventOutcome, MetadataSink } from '../sink/metadataSink.ts';
import type { BatchTrace } from '../tracing/relaySpans.ts';
import type { OutboxEvent } from '../types.ts';
import { resolveThinEvents } from './resolveThinEvents.ts';

export interface DeliverSettings {
  relayId: string;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Content read for one batch's thin events, in bytes of JSON (resolveThinEvents); default: no bound. */
  batchMaxBytes?: number;
}

export type DeliverOutcome =
  | { kind: 'finished'; delivered: number; failed: number; dead: number; lost: number; deferred: number; lastDeliveredAt?: Date }
  /** MongoDB stayed unavailable through the sink's retries; the batch was given back untouched. */
  | { kind: 'sink_unavailable'; error: Error };

/** What the sink answered for one batch: what recordBatch needs to record it. */
export interface AppliedBatch {
  outcomes: ReadonlyMap<string, EventOutcome>;
  /** eventId → why it could not be sent (no content in PostgreSQL). */
  unresolved: ReadonlyMap<string, string>;
  /** Outbox ids of thin events past the byte bound, to give back. */
  deferredIds: ReadonlySet<number>;
  ackedAt: number;
  stopTimer: () => void;
}

/** What recording a batch needs of its events: not their payloads, which the sink is done with. */
export type RecordedEvent = Pick<OutboxEvent, 'id' | 'eventId' | 'aggregateType' | 'createdAt'>;

export function recordedEvent({ id, eventId, aggregateType, createdAt }: OutboxEvent): RecordedEvent {
  return { id, eventId, aggregateType, createdAt };
}

export type ApplyOutcome = { kind: 'applied'; applied: AppliedBatch } | { kind: 'sink_unavailable'; error: Error };

/**
 * Apply one claimed batch and record the result: applyBatch, then recordBatch.
 * The drainer calls the two itself, so that one batch's record overlaps the
 * next batch's sink write; rebuild and tests call this.
 */
export async function deliverBatch(
  deps: { db: SqlDb; sink: MetadataSink; metrics: RelayMetrics; logger: Logger },
  settings: DeliverSettings,
  events: readonly OutboxEvent[],
  signal?: AbortSignal,
  /** The batch's spans when tracing is on (the drainer started them at the claim). */
  batchTrace?: BatchTrace,
): Promise<DeliverOutcome> {
  const outcome = await applyBatch(deps, settings, events, signal, batchTrace);
  if (outcome.kind === 'sink_unavailable') return outcome;
  return recordBatch(deps, settings, events, outcome.applied, batchTrace);
}

/**
 * Send one claimed batch to the sink. Thin events get their content (the
 * entity's newest) from PostgreSQL first. No Postgres transaction is open
 * while we wait on MongoDB. When MongoDB stays unavailable the claims are
 * given back here, untouched.
 */
export async function applyBatch(
  deps: { db: SqlDb; sink: MetadataSink; metrics: RelayMetrics },
  settings: DeliverSettings,
  events: readonly OutboxEvent[],
  signal?: AbortSignal,
  batchTrace?: BatchTrace,
): Promise<ApplyOutcome> {
  const { db, sink, metrics } = deps;
  const stopTimer = metrics.batchDuration.startTimer();
  batchTrace?.startEvents();
  const { ready, unresolved, deferred } = await resolveThinEvents(db, events, settings.batchMaxBytes === undefined ? {} : { maxBytes: settings.batchMaxBytes });
  const result = await sink.apply(ready, { signal });
  batchTrace?.sinkAnswered(result.ok);
  if (!result.ok) {
    // An outage is not the events' fault: give them back without counting an
    // attempt, so a long MongoDB outage never parks healthy events as dead.
    await releaseClaims(db, { relayId: settings.relayId, ids: events.map((e) => e.id) });
    metrics.sinkUnavailable.inc();
    stopTimer();
    if (batchTrace) for (const event of events) batchTrace.endEvent(event.id, { kind: 'released', error: result.error });
    return { kind: 'sink_unavailable', error: result.error };
  }
  return { kind: 'applied', applied: { outcomes: result.outcomes, unresolved, deferredIds: new Set(deferred.map((e) => e.id)), ackedAt: Date.now(), stopTimer } };
}

/**
 * Record what the sink answered for a batch. A row is marked delivered only
 * after MongoDB acknowledged its write, and only while this relay still
 * holds it (markDelivered checks claimed_by); failures count an attempt
 * (markFailed); thin events past the byte bound go back to pending.
 */
export async function recordBatch(
  deps: { db: SqlDb; metrics: RelayMetrics; logger: Logger },
  settings: DeliverSettings,
  events: readonly RecordedEvent[],
  applied: AppliedBatch,
  batchTrace?: BatchTrace,
): Promise<Extract<DeliverOutcome, { kind: 'finished' }>> {
  const { db, metrics, logger } = deps;
  const { outcomes, unresolved, deferredIds, ackedAt } = applied;
  const appliedIds: number[] = [];
  const failures: { id: number; error: string }[] = [];
  for (const event of events) {
    if (deferredIds.has(event.id)) continue;
    const outcome = outcomes.get(event.eventId);
    if (outcome?.status === 'applied') appliedIds.push(event.id);
    else failures.push({ id: event.id, error: outcome?.status === 'failed' ? outcome.error : (unresolved.get(event.eventId) ?? 'the sink returned no outcome for this event') });
  }
  const byId = new Map(events.map((e) => [e.id, e]));
  let delivered: number[] = [];
  let lost: number[] = [];
  if (appliedIds.length > 0) {
    ({ delivered, lost } = await markDelivered(db, { relayId: settings.relayId, ids: appliedIds }));
    // Time in outbox: the row's insert (clock_timestamp) to MongoDB's acknowledgement,
    // once per event this relay delivered (lost rows are counted by whoever delivers them).
    for (const id of delivered) {
      const event = byId.get(id);
      if (!event) continue;
      const seconds = Math.max(0, ackedAt - event.createdAt.getTime()) / 1000;
      metrics.commitToApplied.observe({ aggregate_type: event.aggregateType }, seconds);
      batchTrace?.endEvent(id, { kind: 'delivered', alreadyStored: alreadyStored(outcomes.get(event.eventId)), timeInOutboxMs: seconds * 1000 });
    }
    if (batchTrace) for (const id of lost) batchTrace.endEvent(id, { kind: 'lost' });
    metrics.delivered.inc(delivered.length);
    if (lost.length > 0) logger.warn({ lost: lost.length }, 'rows were reclaimed by another relay after our lease ran out; it will deliver them');
  }
  let dead: number[] = [];
  if (failures.length > 0) {
    const marked = await markFailed(db, {
      relayId: settings.relayId,
      failures,
      maxAttempts: settings.maxAttempts,
      backoff: { baseMs: settings.backoffBaseMs, maxMs: settings.backoffMaxMs },
    });
    dead = marked.dead;
    if (batchTrace) for (const f of failures) batchTrace.endEvent(f.id, { kind: 'failed', error: f.error, dead: dead.includes(f.id) });
    metrics.failed.inc({ kind: 'permanent' }, failures.length);
    if (dead.length > 0) {
      metrics.dead.inc(dead.length);
      logger.error({ dead: dead.length, example: failures.find((f) => dead.includes(f.id))?.error }, 'events parked as dead after max attempts');
    } else {
      logger.warn({ failed: failures.length, example: failures[0]?.error }, 'events failed; retrying later with backoff');
    }
  }
  if (deferredIds.size > 0) {
    // Past the batch's byte bound: not a failure, back to pending for the next claim.
    await releaseClaims(db, { relayId: settings.relayId, ids: [...deferredIds] });
    if (batchTrace) for (const id of deferredIds) batchTrace.endEvent(id, { kind: 'released', error: new Error('deferred: past the batch byte bound') });
  }
  applied.stopTimer();
  return {
    kind: 'finished',
    delivered: delivered.length,
    failed: failures.length,
    dead: dead.length,
    lost: lost.length,
    deferred: deferredIds.size,
    ...(delivered.length > 0 ? { lastDeliveredAt: new Date(ackedAt) } : {}),
  };
}

function alreadyStored(outcome: EventOutcome | undefined): boolean {
  return outcome?.status === 'applied' && outcome.alreadyStored === true;
}
