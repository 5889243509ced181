/**
 * The public API of outbox-relay. Everything else is internal.
 *
 * Writers: createBalance, postTransaction, updateTransactionMetadata,
 * updateOperationMetadata, enqueue. The relay: createRelay. Ops: readLag,
 * listDead, requeueDead, reconcile, rebuild, pauseRelays, resumeRelays, listAudit.
 *
 * Importing it never loads drizzle-orm (a plain-pg writer would pay ~230 MiB
 * of heap for it, src/db/sqlDb.ts); drizzle users get `createDb` and the
 * schema from 'outbox-relay/drizzle'.
 */
export { createPool } from './db/pool.ts';
export type { PoolOptions } from './db/pool.ts';
export type { Db } from './db/client.ts';
export type { DbLike } from './db/toSqlDb.ts';
export type { PoolMode, QueryResult, SqlDb, Statement, TransactionOptions } from './db/sqlDb.ts';
export { runMigrations } from './db/migrate.ts';

export { createBalance } from './ledger/createBalance.ts';
export type { CreateBalanceInput, CreatedBalance } from './ledger/createBalance.ts';
export { postTransaction } from './ledger/postTransaction.ts';
export type { PostingStep, PostTransactionOptions } from './ledger/postTransaction.ts';
export { updateOperationMetadata, updateTransactionMetadata } from './ledger/updateMetadata.ts';
export { MAX_AMOUNT, MIN_AMOUNT } from './ledger/parseAmount.ts';
export { MAX_ENTRIES } from './ledger/validatePostingRequest.ts';
export { MAX_METADATA_BYTES, MAX_METADATA_DEPTH, validateMetadata } from './metadata/validateMetadata.ts';
export { metadataHash } from './metadata/metadataHash.ts';
export { enqueue } from './outbox/enqueue.ts';
export type { EnqueueOptions } from './outbox/enqueue.ts';

export { createRelay, KNOWN_AGGREGATE_TYPES } from './relay/relay.ts';
export type { CreateRelayOptions, Relay } from './relay/relay.ts';
export type { WakeReason, WakeSource } from './relay/wakeSource.ts';
export { resolveConfig, SETTINGS } from './config.ts';
export type { ConfigOverrides, RelayConfig } from './config.ts';
export { createMongoSink } from './sink/mongoSink.ts';
export type { ApplyResult, EventOutcome, MetadataSink, SinkEvent } from './sink/metadataSink.ts';

export { readLag } from './outbox/readLag.ts';
export type { OutboxLag } from './outbox/readLag.ts';
export { readTimeInOutbox } from './outbox/readTimeInOutbox.ts';
export type { TimeInOutbox } from './outbox/readTimeInOutbox.ts';
export type { TraceContext } from './tracing/traceContext.ts';
export { listDead } from './outbox/listDead.ts';
export type { DeadEvent } from './outbox/listDead.ts';
export { requeueDead } from './outbox/requeueDead.ts';
export { reconcile } from './reconcile/reconcile.ts';
export { formatReport } from './reconcile/formatReport.ts';
export { runReconcileExclusive } from './reconcile/runReconcileExclusive.ts';
export { pauseRelays } from './control/pauseRelays.ts';
export { resumeRelays } from './control/resumeRelays.ts';
export { readPauseState } from './control/readPauseState.ts';
export type { PauseState } from './control/pauseScope.ts';
export { listAudit } from './control/listAudit.ts';
export type { AuditRecord } from './control/listAudit.ts';
export type { CheckName, CheckResult, ReconcileOptions, ReconcileReport } from './reconcile/reconcileTypes.ts';
export { rebuild } from './rebuild/rebuild.ts';
export type { RebuildFilter, RebuildOptions, RebuildProgress, RebuildReport } from './rebuild/rebuildTypes.ts';

export {
  ConfigError,
  ConflictError,
  DatabaseError,
  InsufficientFundsError,
  NotFoundError,
  OutboxRelayError,
  ValidationError,
} from './errors.ts';
export type { ErrorCode } from './errors.ts';
export { createLogger, silentLogger } from './logger.ts';
export type { Logger } from './logger.ts';
export type {
  Direction,
  JsonValue,
  Metadata,
  OutboxEvent,
  OutboxEventInput,
  PostingEntry,
  PostingRequest,
  PostingResult,
} from './types.ts';
