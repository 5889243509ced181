/**
 * The one schema module. drizzle-kit generates `drizzle/*.sql` from it; the
 * view and the NOTIFY trigger are hand-written custom migrations (see
 * drizzle/), declared here with `.existing()` so queries stay typed.
 *
 * Amounts are integers in minor units (bigint), never floats.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  doublePrecision,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  pgView,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();
const updatedAt = () => timestamp('updated_at', { withTimezone: true }).notNull().defaultNow();

export const balance = pgTable(
  'balance',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    account: text('account').notNull(),
    asset: text('asset').notNull(),
    available: bigint('available', { mode: 'bigint' }).notNull().default(sql`0`),
    onHold: bigint('on_hold', { mode: 'bigint' }).notNull().default(sql`0`),
    /** A balance that may go negative is a funding source (an external account). */
    allowNegative: boolean('allow_negative').notNull().default(false),
    /** +1 per operation applied; reconcile checks it equals the operation count. */
    version: bigint('version', { mode: 'number' }).notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('balance_account_asset_key').on(t.account, t.asset),
    check('balance_non_negative', sql`${t.allowNegative} OR ${t.available} >= 0`),
    check('balance_on_hold_non_negative', sql`${t.onHold} >= 0`),
  ],
);

export const transaction = pgTable(
  'transaction',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    idempotencyKey: text('idempotency_key').notNull(),
    /** sha256 of the normalised request: same key + other request = conflict. */
    requestHash: text('request_hash').notNull(),
    status: text('status').notNull().default('posted'),
    description: text('description'),
    /** The metadata version and hash MongoDB should hold (0 / null: none). */
    metadataVersion: integer('metadata_version').notNull().default(0),
    metadataHash: text('metadata_hash'),
    /**
     * The metadata itself, at metadata_version: the source of truth MongoDB is
     * projected from (DESIGN.md invariant 9). NULL with a version > 0 only for
     * content pruned before the upgrade that added this column.
     */
    metadata: jsonb('metadata'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('transaction_idempotency_key_key').on(t.idempotencyKey),
    check('transaction_status_valid', sql`${t.status} IN ('posted')`),
  ],
);

export const operation = pgTable(
  'operation',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    transactionId: uuid('transaction_id')
      .notNull()
      .references(() => transaction.id),
    balanceId: uuid('balance_id')
      .notNull()
      .references(() => balance.id),
    /** Position of the entry in the request, so results come back in order. */
    entryIndex: integer('entry_index').notNull(),
    account: text('account').notNull(),
    asset: text('asset').notNull(),
    direction: text('direction').notNull(),
    amount: bigint('amount', { mode: 'bigint' }).notNull(),
    balanceBefore: bigint('balance_before', { mode: 'bigint' }).notNull(),
    balanceAfter: bigint('balance_after', { mode: 'bigint' }).notNull(),
    metadataVersion: integer('metadata_version').notNull().default(0),
    metadataHash: text('metadata_hash'),
    /** As transaction.metadata. */
    metadata: jsonb('metadata'),
    createdAt: createdAt(),
    /** When the metadata last changed (`rebuild --since`). */
    updatedAt: updatedAt(),
  },
  (t) => [
    index('operation_transaction_id_idx').on(t.transactionId),
    index('operation_balance_id_idx').on(t.balanceId),
    check('operation_direction_valid', sql`${t.direction} IN ('debit', 'credit')`),
    check('operation_amount_positive', sql`${t.amount} > 0`),
  ],
);

const outboxColumns = () => ({
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  eventId: uuid('event_id').notNull(),
  aggregateType: text('aggregate_type').notNull(),
  aggregateId: text('aggregate_id').notNull(),
  version: integer('version').notNull(),
  eventType: text('event_type').notNull(),
  /**
   * `{ metadata }` for an event that carries its content; NULL for a thin
   * event (the ledger's, and `enqueue(…, { keepContent: true })`): the relay
   * reads the entity's newest content from PostgreSQL when it delivers.
   */
  payload: jsonb('payload'),
  // clock_timestamp, not now(): now() is the transaction's start, and
  // commit-to-applied latency is measured from this column.
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().default(sql`clock_timestamp()`),
  attempts: integer('attempts').notNull().default(0),
  lastError: text('last_error'),
  /**
   * The writer's W3C trace context ({ traceparent, tracestate? }) captured when
   * the row was written, so the relay's span joins the writer's trace. NULL when
   * the writer had no active span (or no OpenTelemetry SDK).
   */
  traceContext: jsonb('trace_context'),
});

/**
 * The hot queue: pending and dead events only. Delivered rows are moved out
 * to `outbox_delivered` (DELETE … RETURNING into INSERT) instead of updating
 * an indexed status column in place, so the claim index stays small and
 * free of dead tuples (see DESIGN.md, "Queue-table bloat").
 */
export const outbox = pgTable(
  'outbox',
  {
    ...outboxColumns(),
    status: text('status').notNull().default('pending'),
    /** Next attempt no earlier than this (backoff after a failure). */
    availableAt: timestamp('available_at', { withTimezone: true }).notNull().defaultNow(),
    claimedBy: text('claimed_by'),
    claimedUntil: timestamp('claimed_until', { withTimezone: true }),
    deadAt: timestamp('dead_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('outbox_event_id_key').on(t.eventId),
    // What the claim query reads: pending rows in id order. claimed_* and
    // available_at are deliberately not indexed so claim stamps are HOT updates.
    index('outbox_pending_idx').on(t.id).where(sql`${t.status} = 'pending'`),
    index('outbox_aggregate_idx').on(t.aggregateType, t.aggregateId, t.version),
    check('outbox_status_valid', sql`${t.status} IN ('pending', 'dead')`),
    check('outbox_version_positive', sql`${t.version} > 0`),
  ],
);

/** Delivered events, kept for the retention window, then pruned in batches. */
export const outboxDelivered = pgTable(
  'outbox_delivered',
  {
    ...outboxColumns(),
    deliveredAt: timestamp('delivered_at', { withTimezone: true }).notNull().defaultNow(),
    deliveredBy: text('delivered_by').notNull(),
  },
  (t) => [
    uniqueIndex('outbox_delivered_event_id_key').on(t.eventId),
    index('outbox_delivered_delivered_at_idx').on(t.deliveredAt),
    // No (aggregate_type, aggregate_id, version) index: no query of ours reads
    // delivered rows by entity, and it cost every delivery a wide, randomly
    // placed B-tree insert: dropping it took marking delivered from 22 to 13.5
    // µs of PostgreSQL CPU per event (bench/results/issue-17.md).
  ],
);

/** One row per relay process; the heartbeat feeds `outbox_lag.relays_alive`. */
export const outboxRelay = pgTable('outbox_relay', {
  id: text('id').primaryKey(),
  host: text('host').notNull(),
  pid: integer('pid').notNull(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  heartbeatAt: timestamp('heartbeat_at', { withTimezone: true }).notNull().defaultNow(),
  stoppedAt: timestamp('stopped_at', { withTimezone: true }),
  deliveredCount: bigint('delivered_count', { mode: 'number' }).notNull().default(0),
  lastDeliveredAt: timestamp('last_delivered_at', { withTimezone: true }),
});

/** Lag at a glance: `SELECT * FROM outbox_lag`. Defined in a custom migration. */
export const outboxLag = pgView('outbox_lag', {
  pendingCount: bigint('pending_count', { mode: 'number' }).notNull(),
  oldestPendingSeconds: doublePrecision('oldest_pending_seconds'),
  inFlightCount: bigint('in_flight_count', { mode: 'number' }).notNull(),
  deadCount: bigint('dead_count', { mode: 'number' }).notNull(),
  deliveredLastMinute: bigint('delivered_last_minute', { mode: 'number' }).notNull(),
  relaysAlive: integer('relays_alive').notNull(),
  lastDeliveredAt: timestamp('last_delivered_at', { withTimezone: true }),
  relays: jsonb('relays').notNull(),
  /** Operator pauses in force (relay_pause rows): [{ scope, reason, paused_by, paused_at }]. */
  paused: jsonb('paused').notNull(),
}).existing();

/**
 * One row: is a relay waiting for a notification? The outbox's NOTIFY trigger
 * reads it and stays silent while every relay is busy, because a NOTIFY makes
 * the writer's commit take a database-wide lock (DESIGN.md, "NOTIFY serialises
 * commits"). A relay sets it to false when it starts draining and back to true
 * when it runs out of work, then claims once more, so a writer that saw
 * "busy" and committed just then is still picked up; polling bounds the rest.
 * Missing row or NULL: the trigger notifies (the safe side).
 */
export const outboxWakeup = pgTable(
  'outbox_wakeup',
  {
    id: boolean('id').primaryKey().default(true),
    relayWaiting: boolean('relay_waiting').notNull().default(true),
    changedAt: timestamp('changed_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check('outbox_wakeup_one_row', sql`${t.id}`)],
);

/**
 * Metadata content of entities written through `enqueue(…, { keepContent: true })`:
 * what `transaction.metadata` is for the ledger's own entities. One row per
 * entity at its newest version (an older enqueue never overwrites a newer one).
 */
export const entityMetadata = pgTable(
  'entity_metadata',
  {
    aggregateType: text('aggregate_type').notNull(),
    aggregateId: text('aggregate_id').notNull(),
    version: integer('version').notNull(),
    hash: text('hash').notNull(),
    metadata: jsonb('metadata').notNull(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.aggregateType, t.aggregateId] }), check('entity_metadata_version_positive', sql`${t.version} > 0`)],
);

/**
 * One row per `rebuild` (re-projection into MongoDB). The watermark (which
 * entity type, the last id done) is written after each batch is applied, so a
 * rebuild killed half-way resumes where it stopped. At most one unfinished
 * run per filter.
 */
export const rebuildRun = pgTable(
  'rebuild_run',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** sha256 of the normalised filter: the same filter resumes the same run. */
    filterKey: text('filter_key').notNull(),
    filter: jsonb('filter').notNull(),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: updatedAt(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    /** Watermark: entities of types before this one are done, and of this type up to cursor_id. */
    cursorType: text('cursor_type'),
    cursorId: text('cursor_id'),
    /** Entities done (applied, or handed to a relay that holds them). */
    done: bigint('done', { mode: 'number' }).notNull().default(0),
    /** Entities in scope when the run started (for progress and ETA). */
    total: bigint('total', { mode: 'number' }).notNull().default(0),
  },
  (t) => [uniqueIndex('rebuild_run_open_key').on(t.filterKey).where(sql`${t.finishedAt} IS NULL`)],
);

/** What the upgrade to PostgreSQL-held metadata could fill (migration 0009), per entity type. */
export const metadataBackfill = pgTable('metadata_backfill', {
  aggregateType: text('aggregate_type').primaryKey(),
  filled: bigint('filled', { mode: 'number' }).notNull(),
  /** Entities with metadata whose content no retained payload held (pruned before the upgrade). */
  missing: bigint('missing', { mode: 'number' }).notNull(),
  ranAt: timestamp('ran_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Every reconciliation run (CLI or a relay's periodic one): `outbox-relay status` shows the last. */
export const reconcileRun = pgTable(
  'reconcile_run',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull(),
    finishedAt: timestamp('finished_at', { withTimezone: true }).notNull().defaultNow(),
    ok: boolean('ok').notNull(),
    /** { "<check>": problems } for every check that ran. */
    problems: jsonb('problems').notNull(),
    ranBy: text('ran_by').notNull(),
    /** The id `POST /api/reconcile` answered with (null for runs recorded before it existed). */
    runId: uuid('run_id'),
    /** The whole report (samples are capped per check, so it stays small); null when the run failed. */
    report: jsonb('report'),
    /** Why the run could not finish (a database unreachable…); ok is then false. */
    error: text('error'),
  },
  (t) => [index('reconcile_run_finished_at_idx').on(t.finishedAt), uniqueIndex('reconcile_run_run_id_key').on(t.runId)],
);

/**
 * Operator pauses, shared by the whole fleet: scope '*' stops every relay's
 * claims, any other scope is an aggregate type whose events stay pending.
 * Relays read it on every heartbeat. Durable: a pause outlives restarts.
 */
export const relayPause = pgTable(
  'relay_pause',
  {
    scope: text('scope').primaryKey(),
    reason: text('reason').notNull(),
    pausedBy: text('paused_by').notNull(),
    pausedAt: timestamp('paused_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check('relay_pause_scope_valid', sql`${t.scope} = '*' OR ${t.scope} ~ '^[a-z][a-z0-9_]{0,47}$'`)],
);

/**
 * Who did what to the fleet, and why: every mutating operator action (API or
 * CLI), written in the same transaction as the action itself.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    /** The ops token's name, or `cli:<user>` for the command line. */
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    /** What it acted on: event ids, a pause scope, a reconcile run id. */
    target: text('target').notNull(),
    reason: text('reason'),
    details: jsonb('details'),
  },
  (t) => [
    index('audit_log_at_idx').on(t.at),
    check('audit_log_action_valid', sql`${t.action} IN ('requeue', 'pause', 'resume', 'reconcile', 'repair')`),
  ],
);

/**
 * The tenant registry, read from the control database (OUTBOX_RELAY_CONTROL_DATABASE_URL)
 * by `run --multi-tenant`. A URL is stored either here or, as the name of an
 * environment variable (`*_env`), in the relay's own environment, so the
 * secret need not live in the table. Mongo URL unset: the relay's MONGO_URL.
 * `owner`/`lease_expires_at`: which replica serves the tenant, until when;
 * `health*`: how that replica last found it (for `status --tenant`).
 */
export const outboxTenant = pgTable(
  'outbox_tenant',
  {
    id: text('id').primaryKey(),
    databaseUrl: text('database_url'),
    databaseUrlEnv: text('database_url_env'),
    mongoUrl: text('mongo_url'),
    mongoUrlEnv: text('mongo_url_env'),
    mongoDb: text('mongo_db').notNull(),
    /** A direct URL for the tenant's LISTEN when database_url goes through a transaction pooler; NULL: LISTEN on database_url. */
    listenDatabaseUrl: text('listen_database_url'),
    listenDatabaseUrlEnv: text('listen_database_url_env'),
    paused: boolean('paused').notNull().default(false),
    weight: integer('weight').notNull().default(1),
    owner: text('owner'),
    leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }),
    /** As the relay serving it last saw it: 'healthy' or 'unhealthy' with the reason (never a URL). */
    health: text('health'),
    healthReason: text('health_reason'),
    healthAt: timestamp('health_at', { withTimezone: true }),
    /**
     * The tenant's outbox_lag as the replica holding it last sampled it (its
     * heartbeat check): what GET /api/tenants and a replica not holding the
     * tenant answer from, so no request counts a tenant's backlog.
     */
    lagSample: jsonb('lag_sample'),
    lagSampledAt: timestamp('lag_sampled_at', { withTimezone: true }),
    lagSampledBy: text('lag_sampled_by'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('outbox_tenant_id_valid', sql`${t.id} ~ '^[a-z0-9][a-z0-9_-]{0,62}$'`),
    check('outbox_tenant_one_database_url', sql`(${t.databaseUrl} IS NULL) <> (${t.databaseUrlEnv} IS NULL)`),
    check('outbox_tenant_at_most_one_mongo_url', sql`${t.mongoUrl} IS NULL OR ${t.mongoUrlEnv} IS NULL`),
    check('outbox_tenant_at_most_one_listen_url', sql`${t.listenDatabaseUrl} IS NULL OR ${t.listenDatabaseUrlEnv} IS NULL`),
    check('outbox_tenant_weight_positive', sql`${t.weight} BETWEEN 1 AND 100`),
  ],
);

/** Multi-tenant relay replicas alive, for spreading tenants over them (each takes its share of outbox_tenant leases). */
export const outboxRelayReplica = pgTable('outbox_relay_replica', {
  id: text('id').primaryKey(),
  heartbeatAt: timestamp('heartbeat_at', { withTimezone: true }).notNull().defaultNow(),
});
