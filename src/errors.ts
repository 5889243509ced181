/**
 * Typed errors with a stable `code` a caller can switch on, the context that
 * explains them, and the underlying `cause`. Expected outcomes are returned as
 * discriminated unions; these are for input a caller must fix, or surprises.
 */
export type ErrorCode =
  // bad input to the writer API (nothing was written)
  | 'INVALID_REQUEST'
  | 'INVALID_AMOUNT'
  | 'UNBALANCED_ENTRIES'
  | 'INVALID_METADATA'
  | 'INVALID_EVENT'
  | 'UNKNOWN_BALANCE'
  | 'UNKNOWN_TRANSACTION'
  | 'UNKNOWN_OPERATION'
  | 'INSUFFICIENT_FUNDS'
  | 'BALANCE_EXISTS'
  | 'AMOUNT_OUT_OF_RANGE'
  | 'IDEMPOTENCY_CONFLICT'
  // the tenant registry (nothing was written)
  | 'INVALID_TENANT'
  | 'TENANT_EXISTS'
  | 'UNKNOWN_TENANT'
  | 'TENANT_UNREACHABLE'
  // operations
  | 'INVALID_CONFIG'
  | 'INVALID_REBUILD'
  | 'SERVICES_UNAVAILABLE'
  | 'DATABASE_ERROR'
  | 'SINK_ERROR'
  // the ops endpoint's HTTP API (src/control/)
  | 'UNAUTHORIZED'
  | 'MUTATIONS_DISABLED'
  | 'RATE_LIMITED'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'PAYLOAD_TOO_LARGE'
  | 'RECONCILE_RUNNING'
  | 'TENANT_REQUIRED'
  | 'TENANT_FORBIDDEN'
  | 'INTERNAL';

export class OutboxRelayError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = Object.freeze({ ...options.details });
  }
}

/** The request is malformed: fix it and try again. Nothing was written. */
export class ValidationError extends OutboxRelayError {}

/** An account/asset or transaction the request names does not exist. */
export class NotFoundError extends OutboxRelayError {}

/** A non-negative balance would go below zero. Nothing was written. */
export class InsufficientFundsError extends OutboxRelayError {}

/** The idempotency key was used before with a different request, or the balance exists. */
export class ConflictError extends OutboxRelayError {}

/** PostgreSQL failed for a reason that is not the caller's input; `cause` has the driver error. */
export class DatabaseError extends OutboxRelayError {
  constructor(message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super('DATABASE_ERROR', message, options);
  }
}

/** A configuration value is missing or invalid; `variable` names it. */
export class ConfigError extends OutboxRelayError {
  readonly variable: string;
  constructor(variable: string, message: string, options: { cause?: unknown } = {}) {
    super('INVALID_CONFIG', `${variable}: ${message}`, { ...options, details: { variable } });
    this.variable = variable;
  }
}

/** Normalise anything thrown into an Error (for logs and last_error columns). */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  try {
    return new Error(JSON.stringify(value));
  } catch {
    return new Error(String(value));
  }
}

/** Postgres SQLSTATE of an error thrown by node-postgres (or its cause), if any. */
export function pgErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    // Only errors the server sent carry a severity; Node's own (EPIPE…) do not.
    const { code, severity } = current as { code?: unknown; severity?: unknown };
    if (typeof code === 'string' && typeof severity === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** SQLSTATEs that mean "run the whole transaction again". */
export const RETRYABLE_PG_CODES: ReadonlySet<string> = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);
