/**
 * Glossary
 * - outbox row: an event committed in the writer's Postgres transaction, waiting to be applied.
 * - claim: a relay stamps a batch of pending rows with its id and a lease (claimed_by, claimed_until).
 * - lease: how long a claim holds; a crashed relay's rows are claimable again when it runs out.
 * - sink: where events are applied (MongoDB); a port with one adapter.
 * - delivery: the sink acknowledged the write and the relay still held the row; it moves to outbox_delivered.
 * - fence: the sink write takes effect only where the stored version is lower than the event's.
 * - dead: an event that failed maxAttempts times; parked until an operator requeues it.
 * - thin event: an outbox row without payload; the relay reads the entity's newest
 *   metadata from PostgreSQL (the content store) when it delivers.
 * - rebuild: re-projecting entities from PostgreSQL's content into MongoDB.
 */

import type { TraceContext } from './tracing/traceContext.ts';

/** JSON values as MongoDB and Postgres jsonb both store them verbatim. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type Metadata = { [key: string]: JsonValue };

/** What a writer hands to `enqueue`. */
export interface OutboxEventInput {
  /** Entity kind; selects the MongoDB collection `<aggregateType>_metadata`. */
  aggregateType: string;
  /** Entity id; becomes the document `_id`. */
  aggregateId: string;
  /** The entity's metadata version; the sink fences on it. Positive integer. */
  version: number;
  /** Defaults to `metadata.upserted`. */
  eventType?: string;
  payload: { metadata: Metadata };
  /** Defaults to a random UUID; passing one makes enqueue idempotent per event. */
  eventId?: string;
}

/** An outbox row as the relay sees it after claiming. */
export interface OutboxEvent {
  id: number;
  eventId: string;
  aggregateType: string;
  aggregateId: string;
  version: number;
  eventType: string;
  /**
   * The content, or null for a thin event (the ledger's own, and enqueue with
   * `keepContent`): its content lives in PostgreSQL and is read at delivery.
   */
  payload: { metadata: Metadata } | null;
  createdAt: Date;
  attempts: number;
  /** The writer's W3C trace context captured at write; null or absent when it had none. */
  traceContext?: TraceContext | null;
}

export type Direction = 'debit' | 'credit';

export interface PostingEntry {
  account: string;
  asset: string;
  direction: Direction;
  /** Minor units: a bigint, or a decimal string of digits. */
  amount: bigint | string;
  metadata?: Metadata;
}

export interface PostingRequest {
  idempotencyKey: string;
  description?: string;
  metadata?: Metadata;
  entries: PostingEntry[];
}

export interface PostingResult {
  transactionId: string;
  operationIds: string[];
  /** false when an earlier posting with the same key and request was returned. */
  created: boolean;
}
