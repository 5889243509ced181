/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) as the outbox
 * stores it: validated and capped, so a row never carries a context the relay
 * would have to refuse. Anything malformed is dropped (null), never an error:
 * tracing must not fail a posting. Baggage is never stored (it may carry data
 * the writer did not mean to persist).
 */

/** What the `trace_context` column holds. */
export interface TraceContext {
  traceparent: string;
  tracestate?: string;
}

/** The fields of a traceparent the relay needs to continue the trace. */
export interface ParsedTraceparent {
  traceId: string;
  spanId: string;
  /** 8 bits; bit 0 is "sampled". */
  traceFlags: number;
}

/**
 * Longest traceparent accepted. Version 00 is exactly 55 characters; a future
 * version may append fields, which we ignore, but a header this long is not
 * a trace context any more.
 */
export const MAX_TRACEPARENT_LENGTH = 256;
/** The spec asks to propagate at least 512 characters of tracestate; more is dropped. */
export const MAX_TRACESTATE_LENGTH = 512;
/** The spec's limit on tracestate list members. */
export const MAX_TRACESTATE_MEMBERS = 32;

const HEX_PART = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);
// tracestate member: key=value. Keys: lowercase simple or tenant@system keys; values: printable ASCII except , and =, no trailing space.
const TRACESTATE_KEY = /^(?:[a-z][a-z0-9_*/-]{0,255}|[a-z0-9][a-z0-9_*/-]{0,240}@[a-z][a-z0-9_*/-]{0,13})$/;
const TRACESTATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * Parse a traceparent by the spec's rules: version `ff` is invalid; version
 * 00 must be exactly 55 characters; a higher (future) version is parsed by its
 * first four fields when what follows them starts with `-`. All-zero trace or
 * span ids are invalid. Hex is lower case only. Returns null when invalid.
 */
export function parseTraceparent(value: unknown): ParsedTraceparent | null {
  if (typeof value !== 'string' || value.length < 55 || value.length > MAX_TRACEPARENT_LENGTH) return null;
  const match = HEX_PART.exec(value);
  if (!match) return null;
  const version = value.slice(0, 2);
  if (version === 'ff') return null;
  if (version === '00' && value.length !== 55) return null;
  if (value.length > 55 && value[55] !== '-') return null;
  const [, traceId, spanId, flags] = match as unknown as [string, string, string, string];
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return null;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) };
}

/**
 * A tracestate worth keeping, or undefined: at most 512 characters and 32
 * members, each `key=value` by the spec's grammar, keys unique. Empty members
 * (",,") are allowed by the spec and removed.
 */
export function validateTracestate(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_TRACESTATE_LENGTH) return undefined;
  const members = value
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
  if (members.length === 0 || members.length > MAX_TRACESTATE_MEMBERS) return undefined;
  const keys = new Set<string>();
  for (const member of members) {
    const eq = member.indexOf('=');
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    if (!TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(member.slice(eq + 1)) || keys.has(key)) return undefined;
    keys.add(key);
  }
  return members.join(',');
}

/**
 * The context to store, or null. An invalid traceparent drops the whole
 * context; an invalid or oversized tracestate drops only the tracestate (the
 * trace still links, vendors lose their extra state).
 */
export function validateTraceContext(value: unknown): TraceContext | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const { traceparent, tracestate } = value as { traceparent?: unknown; tracestate?: unknown };
  if (parseTraceparent(traceparent) === null) return null;
  const state = tracestate === undefined ? undefined : validateTracestate(tracestate);
  return state === undefined ? { traceparent: traceparent as string } : { traceparent: traceparent as string, tracestate: state };
}
