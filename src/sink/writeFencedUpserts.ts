/**
 * Version-fenced upserts into one collection, with every operation accounted
 * for. The caller retries the whole call on SinkTransientError; operations
 * already settled are not sent again.
 */
import { MongoBulkWriteError, type AnyBulkWriteOperation, type Collection } from 'mongodb';
import type { Metadata } from '../types.ts';
import { classifyRequestError, classifyWriteError } from './classifyMongoError.ts';
import type { EventOutcome } from './metadataSink.ts';
import { SinkTransientError, SinkUnavailableError } from './sinkErrors.ts';

export interface MetadataDocument {
  _id: string;
  metadata: Metadata;
  version: number;
  eventId: string;
  updatedAt: Date;
}

export interface FencedUpsert {
  id: string;
  version: number;
  metadata: Metadata;
  eventId: string;
}

/** Called once per upsert index with its final outcome. */
export type Settle = (index: number, outcome: EventOutcome) => void;

/**
 * How often a duplicate key may turn out to be a lost insert race before we
 * hand the batch back as transient. One retry settles a race (the document
 * exists by then, so the fenced filter can match); more means heavy contention.
 */
const MAX_RACE_ROUNDS = 3;

const APPLIED: EventOutcome = Object.freeze({ status: 'applied' });
/** Settled by reading the stored version back: a newer or equal one was already there. */
const ALREADY_STORED: EventOutcome = Object.freeze({ status: 'applied', alreadyStored: true });

type BulkAnswer =
  /** Every operation accounted for: trust the per-index answers. */
  | { complete: true; applied: number[]; duplicates: number[]; failed: { index: number; error: string }[] }
  /** Some operations unaccounted for: only upserts whose reported _id matches are trusted. */
  | { complete: false; applied: number[]; unknown: number[] };

/**
 * Apply `upserts[i]` for every i in `indices`, calling `settle` once for each.
 *
 * Why every operation is accounted for instead of "no write error ⇒ applied":
 * MongoDB runs all operations of an unordered bulk write and reports each
 * failure by index. FerretDB 1.24 (measured) stops at the first write error,
 * runs nothing after it, reports no counts for what it ran before it, and
 * reports the error at index 0 whatever its real position; its `upserted[].index`
 * counts upserts, not operations (FerretDB source: handler/msg_update.go). So:
 * - a round is *complete* when matched + upserted + write errors = operations
 *   sent; only then are the per-index answers trusted (always, on MongoDB);
 * - otherwise only an upsert whose reported _id equals the operation's _id is
 *   trusted; the rest are checked by reading the stored versions (the ground
 *   truth of a fenced write: stored version ≥ ours means applied) and what is
 *   still missing is sent again. If a round settled nothing, the operations are
 *   split in halves so the one at fault is isolated (a one-operation round is
 *   always unambiguous). Re-sending is safe: writes are fenced and idempotent.
 * - a duplicate key (E11000) usually means "a newer or equal version is
 *   already there", but it also happens when our upsert found no document and
 *   lost the insert race to a concurrent writer of an OLDER version. So
 *   duplicates are confirmed by the same version read; a lost race is sent
 *   again, and then the document exists, so the fenced filter can match.
 *
 * Known limit, FerretDB only: its update is "query, then UPDATE by _id" with no
 * re-check, so two processes writing different versions of one document at the
 * same moment can lose the newer one. MongoDB applies the filter and update
 * atomically. Reconciliation (stored version/hash vs Postgres) catches it.
 */
export async function writeFencedUpserts(
  collection: Collection<MetadataDocument>,
  upserts: readonly FencedUpsert[],
  settle: Settle,
  options: { indices?: readonly number[]; now?: () => Date } = {},
): Promise<void> {
  const now = options.now ?? (() => new Date());
  const pending = [...(options.indices ?? upserts.map((_, i) => i))];
  await settleRound(collection, upserts, settle, now, pending, 0);
}

async function settleRound(
  collection: Collection<MetadataDocument>,
  upserts: readonly FencedUpsert[],
  settle: Settle,
  now: () => Date,
  indices: number[],
  raceRounds: number,
): Promise<void> {
  if (indices.length === 0) return;
  const answer = await bulkUpsert(collection, upserts, indices, now());
  for (const i of answer.applied) settle(i, APPLIED);
  if (answer.complete) {
    for (const { index, error } of answer.failed) settle(index, { status: 'failed', error });
    const lostRaces = await settleIfStored(collection, upserts, settle, answer.duplicates, ALREADY_STORED);
    if (lostRaces.length === 0) return;
    if (raceRounds + 1 >= MAX_RACE_ROUNDS) {
      throw new SinkTransientError(`${lostRaces.length} fenced upserts kept losing insert races in ${collection.collectionName}`);
    }
    await settleRound(collection, upserts, settle, now, lostRaces, raceRounds + 1);
    return;
  }
  // Unaccounted writes found stored may be our own: plain APPLIED, not a duplicate.
  const missing = await settleIfStored(collection, upserts, settle, answer.unknown, APPLIED);
  if (missing.length === 0) return;
  if (missing.length < indices.length) {
    // Progress was made: send what is left as one request again.
    await settleRound(collection, upserts, settle, now, missing, raceRounds);
    return;
  }
  if (missing.length === 1) {
    throw new SinkTransientError(`the server did not account for a write to ${collection.collectionName}`);
  }
  // No progress: the server stopped at an operation it misreported. Halve until it is alone.
  const half = Math.ceil(missing.length / 2);
  await settleRound(collection, upserts, settle, now, missing.slice(0, half), raceRounds);
  await settleRound(collection, upserts, settle, now, missing.slice(half), raceRounds);
}

/** Settle as applied every upsert whose document holds a version ≥ its own; return the others. */
async function settleIfStored(
  collection: Collection<MetadataDocument>,
  upserts: readonly FencedUpsert[],
  settle: Settle,
  indices: readonly number[],
  stored: EventOutcome,
): Promise<number[]> {
  if (indices.length === 0) return [];
  const ids = [...new Set(indices.map((i) => upserts[i]!.id))];
  let found: { _id: string; version?: unknown }[];
  try {
    found = await collection.find({ _id: { $in: ids } }, { projection: { version: 1 } }).toArray();
  } catch (error) {
    throw asRetryable(error, `reading stored versions in ${collection.collectionName}`);
  }
  const versions = new Map(found.map((doc) => [doc._id, typeof doc.version === 'number' ? doc.version : Number.NEGATIVE_INFINITY]));
  const missing: number[] = [];
  for (const i of indices) {
    const upsert = upserts[i]!;
    const version = versions.get(upsert.id);
    if (version !== undefined && version >= upsert.version) settle(i, stored);
    else missing.push(i);
  }
  return missing;
}

async function bulkUpsert(
  collection: Collection<MetadataDocument>,
  upserts: readonly FencedUpsert[],
  indices: readonly number[],
  updatedAt: Date,
): Promise<BulkAnswer> {
  const ops: AnyBulkWriteOperation<MetadataDocument>[] = indices.map((i) => {
    const u = upserts[i]!;
    return {
      // updateMany, not updateOne: the filter names one _id, so on MongoDB the
      // two are the same write. On FerretDB 1.24 they are not: an updateOne
      // keeps its query iterator (and a backend connection) open until the whole
      // bulk command ends (handler/msg_update.go defers Close inside the loop
      // and LimitIterator never drains the rows), so a bulk of 50+ matching
      // statements exhausts its 50-connection pool and hangs the server.
      // updateMany drains the iterator and gives the connection back per statement.
      updateMany: {
        // Takes effect only where the stored version is lower; where it is equal
        // or higher, the upsert's insert hits _id and answers E11000.
        filter: { _id: u.id, version: { $lt: u.version } },
        update: { $set: { metadata: u.metadata, version: u.version, eventId: u.eventId, updatedAt } },
        upsert: true,
      },
    };
  });
  let result: { matchedCount: number; upsertedCount: number; upsertedIds: Record<number, unknown> };
  let writeErrors: { index: number; code: unknown; errmsg?: string | undefined }[] = [];
  try {
    result = await collection.bulkWrite(ops, { ordered: false, writeConcern: { w: 'majority' } });
  } catch (error) {
    const perOperation = error instanceof MongoBulkWriteError ? writeErrorsOf(error) : [];
    if (perOperation.length === 0) return requestFailed(collection, indices, error);
    // Writes done but not yet majority-acknowledged: retrying is safe (fenced) and waits for them.
    if (error instanceof MongoBulkWriteError && error.result?.getWriteConcernError?.() !== undefined) {
      throw new SinkTransientError(`bulk write to ${collection.collectionName}: write concern not satisfied`, { cause: error });
    }
    result = (error as MongoBulkWriteError).result;
    writeErrors = perOperation;
  }
  const transient = writeErrors.find((e) => classifyWriteError(e) === 'transient');
  if (transient) throw new SinkTransientError(`bulk write to ${collection.collectionName}: ${transient.errmsg ?? `code ${String(transient.code)}`}`);

  const upsertedIds = result.upsertedIds ?? {};
  const upsertedAt = new Set<number>();
  for (const [key, id] of Object.entries(upsertedIds)) {
    const local = Number(key);
    const i = indices[local];
    if (i !== undefined && id === upserts[i]!.id) upsertedAt.add(local);
  }
  const complete = result.matchedCount + result.upsertedCount + writeErrors.length === indices.length;
  if (!complete) {
    return {
      complete: false,
      applied: [...upsertedAt].map((local) => indices[local]!),
      unknown: indices.filter((_, local) => !upsertedAt.has(local)),
    };
  }
  const errorsAt = new Map(writeErrors.map((e) => [e.index, e]));
  const applied: number[] = [];
  const duplicates: number[] = [];
  const failed: { index: number; error: string }[] = [];
  indices.forEach((i, local) => {
    const writeError = errorsAt.get(local);
    if (!writeError) applied.push(i);
    else if (classifyWriteError(writeError) === 'duplicate') duplicates.push(i);
    else failed.push({ index: i, error: writeError.errmsg ?? `write error code ${String(writeError.code)}` });
  });
  return { complete: true, applied, duplicates, failed };
}

/** The request failed as a whole: no per-operation answers. */
function requestFailed(collection: Collection<MetadataDocument>, indices: readonly number[], error: unknown): BulkAnswer {
  // The driver wraps a write concern error in a MongoBulkWriteError without write errors
  // and with a plain object (not an Error) as errorResponse.
  const writeConcern = error instanceof MongoBulkWriteError && !(error.errorResponse instanceof Error);
  const kind = writeConcern ? 'transient' : classifyRequestError(error);
  if (kind !== 'permanent') throw asRetryable(error, `bulk write to ${collection.collectionName}`);
  // Something in the request itself (e.g. a value the driver cannot serialise): nothing is
  // known about any operation, so let the caller isolate the one at fault.
  if (indices.length === 1) {
    return { complete: true, applied: [], duplicates: [], failed: [{ index: indices[0]!, error: messageOf(error) }] };
  }
  return { complete: false, applied: [], unknown: [...indices] };
}

function writeErrorsOf(error: MongoBulkWriteError): { index: number; code: unknown; errmsg?: string | undefined }[] {
  const writeErrors: unknown = error.writeErrors;
  if (Array.isArray(writeErrors)) return writeErrors;
  return writeErrors ? [writeErrors as { index: number; code: unknown; errmsg?: string }] : [];
}

function asRetryable(error: unknown, what: string): Error {
  const kind = classifyRequestError(error);
  if (kind === 'unavailable') return new SinkUnavailableError(`${what}: ${messageOf(error)}`, { cause: error });
  return new SinkTransientError(`${what}: ${messageOf(error)}`, { cause: error });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
