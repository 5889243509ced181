/**
 * What a MongoDB error means for a fenced upsert. Pure functions over the
 * error's shape (name, code, labels, message), so they work on errors from
 * any driver instance and on errors built in unit tests.
 */

/** One operation's write error inside a bulk write. */
export type WriteErrorClass =
  /** E11000 on the fenced upsert: the document exists; usually with a version ≥ ours (see mongoSink's check). */
  | 'duplicate'
  /** The server could not take the write right now: retry the batch. */
  | 'transient'
  /** This operation will never succeed as is (too large, invalid field name, …). */
  | 'permanent';

/** An error that failed a whole request (no per-operation accounting). */
export type RequestErrorClass =
  /** Network, server selection, failover, timeouts: retry the batch with backoff. */
  | 'transient'
  /** Retrying cannot help and no event is at fault (client closed, not authorised): give up on the batch now. */
  | 'unavailable'
  /** Something in the request itself: split the request to find the operation at fault. */
  | 'permanent';

const DUPLICATE_KEY_CODES: ReadonlySet<number> = new Set([11000, 11001]);

/**
 * The driver's retryable-write codes (HostUnreachable … NotPrimaryOrSecondary,
 * ExceededTimeLimit), plus codes that mean "the server is busy or stepping
 * down, not that the write is wrong".
 */
export const TRANSIENT_CODES: ReadonlySet<number> = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  24, // LockTimeout
  46, // LockBusy
  50, // MaxTimeMSExpired
  64, // WriteConcernFailed / WriteConcernTimeout
  89, // NetworkTimeout
  91, // ShutdownInProgress
  112, // WriteConflict
  134, // ReadConcernMajorityNotAvailableYet
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10058, // LegacyNotPrimary
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

/** Misconfiguration rather than a bad event: counting attempts against events would park healthy ones as dead. */
const UNAVAILABLE_CODES: ReadonlySet<number> = new Set([
  13, // Unauthorized
  18, // AuthenticationFailed
]);

const TRANSIENT_LABELS = ['RetryableWriteError', 'TransientTransactionError', 'RetryableError', 'SystemOverloadedError', 'PoolRequestedRetry', 'ResetPool'];

/** Driver error classes (by name: stable across driver copies) that mean "the server was not reached or did not answer in time". */
const TRANSIENT_NAMES: ReadonlySet<string> = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoPoolClearedError',
  'MongoOperationTimeoutError',
  'MongoWriteConcernError',
  'MongoStalePrimaryError',
  // After a failed first connection the driver closes the topology and every later
  // operation fails with this until connect() is called again (measured, driver 7.9);
  // the sink calls connect() before retrying (see isClosedTopologyError).
  'MongoTopologyClosedError',
]);

/** The owner closed the client (close() then an operation gives MongoNotConnectedError): do not resurrect it. */
const UNAVAILABLE_NAMES: ReadonlySet<string> = new Set(['MongoClientClosedError', 'MongoNotConnectedError', 'MongoExpiredSessionError']);

/** Pre-4.4 servers say it in the message only. */
const TRANSIENT_MESSAGE = /not master|node is recovering|not primary/i;

export function classifyWriteError(writeError: { code?: unknown; errmsg?: string | undefined }): WriteErrorClass {
  const code = Number(writeError.code);
  if (DUPLICATE_KEY_CODES.has(code)) return 'duplicate';
  if (TRANSIENT_CODES.has(code) || UNAVAILABLE_CODES.has(code)) return 'transient';
  if (writeError.errmsg !== undefined && TRANSIENT_MESSAGE.test(writeError.errmsg)) return 'transient';
  return 'permanent';
}

export function classifyRequestError(error: unknown): RequestErrorClass {
  const name = (e: ErrorShape) => (typeof e.name === 'string' ? e.name : '');
  if (someInChain(error, (e) => UNAVAILABLE_NAMES.has(name(e)) || UNAVAILABLE_CODES.has(Number(e.code)))) return 'unavailable';
  const transient = someInChain(
    error,
    (e) =>
      TRANSIENT_NAMES.has(name(e)) ||
      TRANSIENT_CODES.has(Number(e.code)) ||
      hasAnyLabel(e, TRANSIENT_LABELS) ||
      (typeof e.message === 'string' && TRANSIENT_MESSAGE.test(e.message)),
  );
  return transient ? 'transient' : 'permanent';
}

/** True when the client's topology closed itself after a failed connection attempt (connect() again recovers it). */
export function isClosedTopologyError(error: unknown): boolean {
  return someInChain(error, (e) => e.name === 'MongoTopologyClosedError');
}

type ErrorShape = { name?: unknown; code?: unknown; message?: unknown; errorLabels?: unknown; hasErrorLabel?: unknown; cause?: unknown; errorResponse?: unknown };

/**
 * Walk the wrapping: `cause`, and `errorResponse`, where the driver keeps a
 * network error that failed a bulk write after wrapping it in MongoBulkWriteError.
 */
function someInChain(error: unknown, test: (e: ErrorShape) => boolean): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const e = current as ErrorShape;
    if (test(e)) return true;
    current = e.cause ?? (e.errorResponse instanceof Error ? e.errorResponse : undefined);
  }
  return false;
}

function hasAnyLabel(error: { errorLabels?: unknown; hasErrorLabel?: unknown }, labels: readonly string[]): boolean {
  if (typeof error.hasErrorLabel === 'function') {
    const has = error.hasErrorLabel as (label: string) => boolean;
    if (labels.some((label) => has.call(error, label))) return true;
  }
  return Array.isArray(error.errorLabels) && labels.some((label) => (error.errorLabels as unknown[]).includes(label));
}
