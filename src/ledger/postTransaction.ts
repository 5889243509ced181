import { randomUUID } from 'node:crypto';
import sql, { empty } from 'sql-template-tag';
import type { SqlDb } from '../db/sqlDb.ts';
import type { DbLike } from '../db/toSqlDb.ts';
import { ConflictError } from '../errors.ts';
import { metadataHash } from '../metadata/metadataHash.ts';
import { outboxInsert, thinOutboxRow, type OutboxRow } from '../outbox/enqueue.ts';
import type { Metadata, PostingRequest, PostingResult } from '../types.ts';
import { applyEntries } from './applyEntries.ts';
import { findPosting, type FindPostingOutcome } from './findPosting.ts';
import { lockBalances } from './lockBalances.ts';
import { pgConstraint, runInTransaction } from './runInTransaction.ts';
import { validatePostingRequest, type NormalisedPosting } from './validatePostingRequest.ts';

/**
 * The points of a posting where `hooks.afterStep` is called, each after a
 * distinct round trip to PostgreSQL: the idempotency lookup (before the
 * transaction opens), the balance locks, the balance update, and the one
 * statement that inserts the transaction, its operations and their outbox
 * rows (the last before COMMIT).
 */
export type PostingStep = 'idempotency_checked' | 'balances_locked' | 'balances_updated' | 'posting_inserted';

export interface PostTransactionOptions {
  /** Times to rerun the transaction after a serialization failure or deadlock (default 5). */
  maxRetries?: number;
  /**
   * Testing seam: called after each step (see PostingStep). Throwing from it
   * rolls the whole posting back; tests use it to prove atomicity and to
   * order two calls deterministically. Not for production use.
   */
  hooks?: { afterStep?(step: PostingStep): void | Promise<void> };
}

const IDEMPOTENCY_KEY_CONSTRAINT = 'transaction_idempotency_key_key';

/**
 * Post a balanced set of entries: update the balances, record the transaction
 * and one operation per entry, and queue one outbox event per entity that
 * carries metadata, all in one Postgres transaction. The relay is notified
 * when (and only if) it commits.
 *
 * Idempotent per `idempotencyKey`: the same request again returns the first
 * result with `created: false`; another request under the same key throws
 * `ConflictError('IDEMPOTENCY_CONFLICT')`.
 *
 * Bad input throws `ValidationError`, `NotFoundError('UNKNOWN_BALANCE')` or
 * `InsufficientFundsError` and writes nothing. Pass a pool or `Db` (or a
 * drizzle transaction, in which case the posting runs in a savepoint).
 */
export async function postTransaction(db: DbLike, request: PostingRequest, options: PostTransactionOptions = {}): Promise<PostingResult> {
  return postTransactionWith(db, request, options, { outbox: true });
}

/**
 * postTransaction with its outbox rows optional: `{ outbox: false }` writes
 * the same posting, metadata content included, without the outbox rows. Not
 * part of the package's API: the writer-overhead benchmark's "outbox off"
 * baseline (bench/writerOverhead.ts), so the outbox's cost is measured on
 * this very code path and nothing else.
 */
export async function postTransactionWith(db: DbLike, request: PostingRequest, options: PostTransactionOptions, variant: { outbox: boolean }): Promise<PostingResult> {
  const posting = validatePostingRequest(request);
  const earlier = answer(await findPosting(db, posting.idempotencyKey, posting.requestHash), posting);
  if (earlier) return earlier;
  await options.hooks?.afterStep?.('idempotency_checked');
  try {
    return await runInTransaction(db, (tx) => writePosting(tx, posting, variant.outbox, options.hooks?.afterStep), { maxRetries: options.maxRetries });
  } catch (error) {
    // Another call with the same key committed first: answer as if we had looked it up.
    if (pgConstraint(error) === IDEMPOTENCY_KEY_CONSTRAINT) {
      const raced = answer(await findPosting(db, posting.idempotencyKey, posting.requestHash), posting);
      if (raced) return raced;
    }
    throw error;
  }
}

function answer(found: FindPostingOutcome, posting: NormalisedPosting): PostingResult | undefined {
  if (found.kind === 'same') return found.result;
  if (found.kind === 'conflict') {
    throw new ConflictError('IDEMPOTENCY_CONFLICT', `idempotency key ${JSON.stringify(posting.idempotencyKey)} was used for a different request (transaction ${found.transactionId})`, {
      details: { idempotencyKey: posting.idempotencyKey, transactionId: found.transactionId },
    });
  }
  return undefined;
}

async function writePosting(tx: SqlDb, posting: NormalisedPosting, outbox: boolean, afterStep: ((step: PostingStep) => void | Promise<void>) | undefined): Promise<PostingResult> {
  const step = async (name: PostingStep) => {
    if (afterStep) await afterStep(name);
  };
  const balances = await lockBalances(tx, posting.entries);
  await step('balances_locked');
  const { operations, changes } = applyEntries(balances, posting.entries);
  await tx.query(sql`
    UPDATE balance AS b
    SET available = c.available, version = b.version + c.operations, updated_at = now()
    FROM unnest(${changes.map((c) => c.id)}::uuid[], ${changes.map((c) => c.available.toString())}::bigint[],
                ${changes.map((c) => c.operations)}::int[]) AS c(id, available, operations)
    WHERE b.id = c.id`);
  await step('balances_updated');

  // Ids are made here so the outbox rows can name their entities before insert.
  const transactionId = randomUUID();
  const operationIds = posting.entries.map(() => randomUUID());
  const txMeta = metadataColumns(posting.metadata);
  const entries = posting.entries;
  const entryMeta = entries.map((e) => metadataColumns(e.metadata));
  // Thin events: the content goes into the entity rows (PostgreSQL keeps it for
  // as long as the entity lives) and the relay reads it from there at delivery,
  // so it is written once, not twice (measured: bench/writerOverhead.ts).
  const events: OutboxRow[] = [];
  if (outbox && posting.metadata) events.push(thinOutboxRow('transaction', transactionId, 1));
  entries.forEach((entry, i) => {
    if (outbox && entry.metadata) events.push(thinOutboxRow('operation', operationIds[i] as string, 1));
  });

  // The transaction row, its operations and their outbox rows in ONE statement
  // (data-modifying CTEs; the foreign keys are checked at its end): every round
  // trip holds the balance row locks longer, and the outbox row must not cost
  // writers one of its own. No metadata, no outbox INSERT, so no NOTIFY either
  // (the trigger fires per INSERT statement, even one that inserts nothing).
  await tx.query(sql`
    WITH inserted_transaction AS (
      INSERT INTO "transaction" (id, idempotency_key, request_hash, description, metadata_version, metadata_hash, metadata)
      VALUES (${transactionId}, ${posting.idempotencyKey}, ${posting.requestHash}, ${posting.description}, ${txMeta.version}, ${txMeta.hash}, ${txMeta.json}::jsonb)
    ), inserted_operations AS (
      INSERT INTO operation (id, transaction_id, balance_id, entry_index, account, asset, direction, amount, balance_before, balance_after, metadata_version, metadata_hash, metadata)
      SELECT o.id, ${transactionId}::uuid, o.balance_id, o.entry_index, o.account, o.asset, o.direction, o.amount, o.balance_before, o.balance_after, o.metadata_version, o.metadata_hash, o.metadata::jsonb
      FROM unnest(
        ${operationIds}::uuid[], ${operations.map((o) => o.balanceId)}::uuid[], ${operations.map((o) => o.entryIndex)}::int[],
        ${entries.map((e) => e.account)}::text[], ${entries.map((e) => e.asset)}::text[], ${entries.map((e) => e.direction)}::text[],
        ${entries.map((e) => e.amount.toString())}::bigint[], ${operations.map((o) => o.balanceBefore.toString())}::bigint[],
        ${operations.map((o) => o.balanceAfter.toString())}::bigint[], ${entryMeta.map((m) => m.version)}::int[],
        ${entryMeta.map((m) => m.hash)}::text[], ${entryMeta.map((m) => m.json)}::text[]
      ) AS o(id, balance_id, entry_index, account, asset, direction, amount, balance_before, balance_after, metadata_version, metadata_hash, metadata)
    )${events.length > 0 ? sql`, inserted_events AS (${outboxInsert(events, { freshIds: true })})` : empty}
    SELECT 1`);
  await step('posting_inserted');
  return { transactionId, operationIds, created: true };
}

function metadataColumns(metadata: Metadata | null): { version: number; hash: string | null; json: string | null } {
  return metadata ? { version: 1, hash: metadataHash(metadata), json: JSON.stringify(metadata) } : { version: 0, hash: null, json: null };
}
