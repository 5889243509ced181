import { pgErrorCode, RETRYABLE_PG_CODES } from '../errors.ts';

/**
 * What a PostgreSQL error means for whoever ran the statement:
 * - `retry-transaction`: run the whole transaction again at once
 *   (serialization failure, deadlock; RETRYABLE_PG_CODES);
 * - `reconnect`: the server, not the statement, is the problem right now —
 *   restarting, shutting down, failing over, read-only (a hot standby, or a
 *   primary demoted behind the same address), or the connection is gone.
 *   Drop the connection (a read-only one stays read-only), back off, try
 *   again on a fresh one. Never counted against an event: a relay that spent
 *   attempts here would park healthy events as dead during a failover;
 * - `other`: about this statement or its data.
 */
export type PgErrorClass = 'retry-transaction' | 'reconnect' | 'other';

/** SQLSTATEs of a server that cannot take the work now (see PgErrorClass). */
export const RECONNECT_PG_CODES: ReadonlySet<string> = new Set([
  '25006', // read_only_sql_transaction: a standby, or default_transaction_read_only
  '57P01', // admin_shutdown (smart/fast shutdown, pg_terminate_backend)
  '57P02', // crash_shutdown (another backend crashed; the server restarts)
  '57P03', // cannot_connect_now (starting up, in recovery)
  '53300', // too_many_connections
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08004', // sqlserver_rejected_establishment_of_sqlconnection
  '08006', // connection_failure
  '08P01', // protocol_violation: PgBouncer's "server conn crashed?", "query_wait_timeout", …
]);

/** Errors node-postgres and Node raise without a SQLSTATE when the connection is gone or cannot be made. */
const CONNECTION_ERRNOS: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const CONNECTION_MESSAGES = /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Client was closed and is not queryable|server closed the connection unexpectedly/i;

export function classifyPgError(error: unknown): PgErrorClass {
  const code = pgErrorCode(error);
  if (code !== undefined) {
    if (RETRYABLE_PG_CODES.has(code)) return 'retry-transaction';
    return RECONNECT_PG_CODES.has(code) ? 'reconnect' : 'other';
  }
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const { code: errno, message } = current as { code?: unknown; message?: unknown };
    if (typeof errno === 'string' && CONNECTION_ERRNOS.has(errno)) return 'reconnect';
    if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return 'reconnect';
    current = (current as { cause?: unknown }).cause;
  }
  return 'other';
}
