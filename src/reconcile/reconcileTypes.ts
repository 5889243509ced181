/**
 * Reconciliation: read-only consistency checks across Postgres (the source of
 * truth) and MongoDB (the metadata projection), and a repair that only ever
 * goes through the outbox.
 */
import type { Db as MongoDb } from 'mongodb';
import type { PoolMode, SqlDb } from '../db/sqlDb.ts';
import type { DbLike } from '../db/toSqlDb.ts';
import type { Logger } from '../logger.ts';

export const CHECK_NAMES = ['metadata-sync', 'metadata-content', 'orphan-documents', 'orphan-transactions', 'double-entry', 'balances', 'outbox-health'] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

export interface CheckResult {
  /** Offending items found (0: clean). */
  problems: number;
  /** The first `sampleLimit` offending ids, each with a short reason: `<id>: <reason>`. */
  samples: string[];
  /** Items examined. */
  checked: number;
  /** metadata-sync: entities with an event still pending in the outbox (not judged). */
  skippedInFlight?: number;
  /** metadata-sync with repair: fresh events enqueued; metadata-content: entities filled from MongoDB. */
  repaired?: number;
  /**
   * metadata-sync with repair: drifted entities PostgreSQL holds no usable
   * content for (only content pruned before the upgrade that keeps it).
   */
  unrepairable?: string[];
  /** metadata-sync with repair, without repairAhead: documents ahead of PostgreSQL, left alone, each with what to do. */
  needsRepairAhead?: string[];
}

export interface ReconcileReport {
  /** true when every check that ran found nothing. */
  ok: boolean;
  startedAt: string;
  durationMs: number;
  checks: Partial<Record<CheckName, CheckResult>>;
}

export interface ReconcileDeps {
  /** PostgreSQL: a pool, client or drizzle database, or a handle of ours (which carries its pool mode). */
  db: DbLike;
  mongoDb: MongoDb;
  logger?: Logger;
}

export interface ReconcileOptions {
  /** Which checks to run (default: all). */
  checks?: readonly CheckName[];
  /** Re-enqueue events for metadata drift (never touches ledger rows). */
  repair?: boolean;
  /**
   * With `repair`: also reset documents AHEAD of PostgreSQL (a version it never
   * had, e.g. after a point-in-time restore of PostgreSQL) to PostgreSQL's content.
   */
  repairAhead?: boolean;
  /** Offending ids kept per check (default 20). */
  sampleLimit?: number;
  /** Rows per Postgres page and ids per MongoDB `$in` (default 1000). */
  pageSize?: number;
  /** outbox-health: a pending event older than this is a problem (default 300). */
  pendingOlderThanSeconds?: number;
  /**
   * How metadata-sync reads MongoDB: `keyset` (a `$in` per Postgres page: best
   * where `_id` lookups use an index, i.e. MongoDB), `scan` (one streamed read
   * per collection into a Postgres temp table: FerretDB, whose every find is a
   * full scan), `auto` (default: `scan` on FerretDB, else `keyset`).
   */
  strategy?: 'auto' | 'keyset' | 'scan';
  /**
   * How `db` reaches PostgreSQL when it is a pool or client (default
   * 'transaction'; a handle of ours carries its own): decides whether the
   * `scan` strategy's temp table lives in one transaction (pooler-safe) or in
   * the session (direct/session pooling: no transaction open while MongoDB
   * is read).
   */
  poolMode?: PoolMode;
}

/** Options with defaults applied, as every check sees them. */
export interface CheckContext extends Omit<ReconcileDeps, 'db'> {
  db: SqlDb;
  logger: Logger;
  sampleLimit: number;
  pageSize: number;
  pendingOlderThanSeconds: number;
  repair: boolean;
  repairAhead: boolean;
  strategy: 'keyset' | 'scan';
}

/** Entity types whose metadata the ledger projects to MongoDB: aggregate type → Postgres table. */
export const METADATA_ENTITIES = [
  { aggregateType: 'transaction', table: '"transaction"' },
  { aggregateType: 'operation', table: 'operation' },
] as const;

/** The relay's naming, from the sink: reconcile must read where the relay writes. */
export { metadataCollectionName as collectionFor } from '../sink/metadataSink.ts';

/** Keeps the first `limit` samples; counts every problem. */
export class Findings {
  problems = 0;
  readonly samples: string[] = [];
  readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  add(id: string, reason: string): void {
    this.problems++;
    if (this.samples.length < this.limit) this.samples.push(`${id}: ${reason}`);
  }
}
