/**
 * The sink port: where claimed outbox events are applied. The relay depends on
 * this interface only; `mongoSink.ts` is its MongoDB adapter.
 */
import type { Metadata } from '../types.ts';

/** The part of an outbox event the sink needs (an `OutboxEvent` satisfies it). */
export interface SinkEvent {
  eventId: string;
  aggregateType: string;
  aggregateId: string;
  version: number;
  payload: { metadata: Metadata };
}

export type EventOutcome =
  /**
   * Acknowledged by the sink, or a newer/equal version was already there
   * (fence). `alreadyStored`: the latter, a duplicate (traces tell them apart).
   */
  | { status: 'applied'; alreadyStored?: true }
  /** Permanent for this event (document too large, invalid field name): the relay counts an attempt. */
  | { status: 'failed'; error: string };

export type ApplyResult =
  /** Keyed by eventId; one entry for every input event. */
  | { ok: true; outcomes: Map<string, EventOutcome> }
  /** The sink stayed unavailable through bounded transient retries (or the signal aborted): mark nothing delivered. */
  | { ok: false; error: Error };

export interface MetadataSink {
  /** Create collections and indexes idempotently (called at relay start). */
  prepare(aggregateTypes: readonly string[]): Promise<void>;
  /** Apply a batch with version-fenced writes; safe to call again with the same events. */
  apply(events: readonly SinkEvent[], options?: { signal?: AbortSignal }): Promise<ApplyResult>;
  /** Cheap reachability check for /readyz. */
  ping(): Promise<boolean>;
}

/** `transaction` → `transaction_metadata`. */
export function metadataCollectionName(aggregateType: string): string {
  return `${aggregateType}_metadata`;
}
