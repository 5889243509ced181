/**
 * Rebuild (re-projection): write every entity's newest metadata, as
 * PostgreSQL holds it, into MongoDB through the relay's own path (claim,
 * fenced upsert, mark delivered). The types shared by its files.
 */
import type { Db as MongoDb } from 'mongodb';
import type { DbLike } from '../db/toSqlDb.ts';
import type { Logger } from '../logger.ts';

export interface RebuildFilter {
  /** Only these entity types (default: every type PostgreSQL holds content for). */
  types?: readonly string[];
  /** Only entities whose metadata changed at or after this instant. */
  since?: Date;
  /** Only these entities. */
  ids?: readonly { aggregateType: string; aggregateId: string }[];
}

export interface RebuildDeps {
  /** PostgreSQL: a pool, client or drizzle database, or a handle of ours. */
  db: DbLike;
  mongoDb: MongoDb;
  logger?: Logger;
}

export interface RebuildOptions {
  /** Entities per batch (one claim, one bulk write, one watermark update). Default 500. */
  batchSize?: number;
  /** At most this many entities per second (default: as fast as the sink takes them). */
  ratePerSecond?: number;
  /** How long a batch's claim holds against the relays (default 60 s). */
  leaseMs?: number;
  /** Start over instead of resuming an unfinished run with the same filter. */
  restart?: boolean;
  /** Stop after the batch in hand; the watermark keeps what was done. */
  signal?: AbortSignal;
  /** Called after every batch, and once at the start. */
  onProgress?: (progress: RebuildProgress) => void;
}

export interface RebuildProgress {
  runId: number;
  /** Entities done by this run so far, including those done before a resume. */
  done: number;
  /** Entities in scope when the run started. */
  total: number;
  /** Done before this process resumed the run (0 for a fresh run). */
  resumedAt: number;
  /** Documents this process sent to the sink (each a fenced upsert). */
  written: number;
  /** Entities a relay held when we came to them: it writes their newest version itself. */
  handedToRelays: number;
  /** Entities whose write failed (counted as an attempt on their event, retried by the relays). */
  failed: number;
  /** The type being rebuilt. */
  aggregateType: string | null;
  /** Entities per second over this process's run so far. */
  ratePerSecond: number;
  /** Seconds left at that rate (null before the first batch). */
  etaSeconds: number | null;
}

export type RebuildReport =
  | ({ status: 'complete'; seconds: number; notRebuildable: number } & RebuildProgress)
  /** Stopped by the signal; run again with the same filter to resume. */
  | ({ status: 'stopped'; seconds: number; notRebuildable: number } & RebuildProgress);

/** Event type of the outbox rows a rebuild writes through, so they can be told apart. */
export const REBUILD_EVENT_TYPE = 'metadata.rebuilt';
