import { randomUUID } from 'node:crypto';
import sql, { empty, type Sql } from 'sql-template-tag';
import type { SqlDb } from '../db/sqlDb.ts';
import { toSqlDb, type DbLike } from '../db/toSqlDb.ts';
import { ValidationError } from '../errors.ts';
import { metadataHash } from '../metadata/metadataHash.ts';
import { validateMetadata } from '../metadata/validateMetadata.ts';
import { validateText } from '../metadata/validateText.ts';
import { captureTraceContext } from '../tracing/captureTraceContext.ts';
import type { Metadata, OutboxEvent, OutboxEventInput } from '../types.ts';
import { UUID_PATTERN } from '../uuid.ts';

import { AGGREGATE_TYPE_PATTERN } from './aggregateType.ts';

export { AGGREGATE_TYPE_PATTERN };
export const MAX_AGGREGATE_ID_LENGTH = 512;
export const MAX_EVENT_TYPE_LENGTH = 100;
export const MAX_EVENT_VERSION = 2 ** 31 - 1;
export const DEFAULT_EVENT_TYPE = 'metadata.upserted';
const EVENT_KEYS: ReadonlySet<string> = new Set(['aggregateType', 'aggregateId', 'version', 'eventType', 'payload', 'eventId']);

/** A validated outbox row, ready to insert: an event before the database gave it an id. */
export type OutboxRow = Omit<OutboxEvent, 'id' | 'createdAt' | 'attempts'>;

/**
 * Add one event to the outbox inside a transaction the caller holds (a
 * drizzle transaction, or a node-postgres client between BEGIN and COMMIT).
 * It opens no transaction of its own: the event commits or rolls back with
 * the caller's writes, and the relay is woken only once they commit.
 *
 * Passing `eventId` makes the call idempotent per event: enqueueing the same
 * id again returns the row already there (pending, dead or delivered).
 *
 * Throws `ValidationError('INVALID_EVENT' | 'INVALID_METADATA')` on bad input.
 */
export async function enqueue(tx: DbLike, event: OutboxEventInput, options: EnqueueOptions = {}): Promise<{ id: number; eventId: string }> {
  const row = buildOutboxRow(event);
  if (options.keepContent === true) return keepContentAndEnqueue(tx, row);
  const [inserted] = await insertOutboxRows(toSqlDb(tx), [row]);
  return inserted as { id: number; eventId: string };
}

export interface EnqueueOptions {
  /**
   * Keep the metadata in PostgreSQL (table entity_metadata, newest version
   * per entity) and enqueue a thin event: the content then survives outbox
   * pruning, and `rebuild` can re-project the entity. Opt in for every write
   * of an entity type or for none (an event without it carries its own
   * payload, which PostgreSQL does not keep). Not for `transaction` and
   * `operation`, whose content the ledger keeps itself.
   */
  keepContent?: boolean;
}

/** Aggregate types whose content the ledger keeps in its own tables. */
export const LEDGER_AGGREGATE_TYPES: ReadonlySet<string> = new Set(['transaction', 'operation']);

async function keepContentAndEnqueue(tx: DbLike, row: OutboxRow): Promise<{ id: number; eventId: string }> {
  if (LEDGER_AGGREGATE_TYPES.has(row.aggregateType)) {
    fail('aggregateType', `${row.aggregateType} is the ledger's own; keepContent is for other entity types (the ledger keeps its content itself)`);
  }
  const metadata = (row.payload as { metadata: Metadata }).metadata;
  const db = toSqlDb(tx);
  // Fenced like the sink: an older version never overwrites a newer one, so
  // events enqueued out of order leave the newest content in place.
  await db.query(sql`
    INSERT INTO entity_metadata (aggregate_type, aggregate_id, version, hash, metadata)
    VALUES (${row.aggregateType}, ${row.aggregateId}, ${row.version}, ${metadataHash(metadata)}, ${JSON.stringify(metadata)}::jsonb)
    ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
      SET version = EXCLUDED.version, hash = EXCLUDED.hash, metadata = EXCLUDED.metadata, updated_at = now()
      WHERE entity_metadata.version < EXCLUDED.version`);
  const [inserted] = await insertOutboxRows(db, [{ ...row, payload: null }]);
  return inserted as { id: number; eventId: string };
}

/**
 * A thin event for an entity whose content PostgreSQL holds (the ledger's
 * transactions and operations): no payload, the relay reads the newest
 * content at delivery. Built here so every outbox row is built in one file.
 */
export function thinOutboxRow(aggregateType: string, aggregateId: string, version: number, eventType: string = DEFAULT_EVENT_TYPE): OutboxRow {
  return { eventId: randomUUID(), aggregateType, aggregateId, version, eventType, payload: null, traceContext: captureTraceContext() };
}

/** Validate and normalise an event; the one place outbox rows are built (postTransaction and updateMetadata use it too). */
export function buildOutboxRow(event: OutboxEventInput): OutboxRow {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) fail('event', 'must be an object');
  const unknown = Object.keys(event).filter((key) => !EVENT_KEYS.has(key) && (event as unknown as Record<string, unknown>)[key] !== undefined);
  if (unknown.length > 0) fail('event', `unknown field(s): ${unknown.join(', ')}`);
  const { aggregateType, aggregateId, version, payload } = event as Partial<OutboxEventInput>;
  if (typeof aggregateType !== 'string' || !AGGREGATE_TYPE_PATTERN.test(aggregateType)) {
    fail('aggregateType', `must match ${AGGREGATE_TYPE_PATTERN} (it names a MongoDB collection), got ${JSON.stringify(aggregateType) ?? typeof aggregateType}`);
  }
  const id = validateText(aggregateId, 'aggregateId', { min: 1, max: MAX_AGGREGATE_ID_LENGTH, code: 'INVALID_EVENT' });
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1 || version > MAX_EVENT_VERSION) {
    fail('version', `must be an integer from 1 to ${MAX_EVENT_VERSION}, got ${String(version)}`);
  }
  const eventType = validateText(event.eventType ?? DEFAULT_EVENT_TYPE, 'eventType', { min: 1, max: MAX_EVENT_TYPE_LENGTH, code: 'INVALID_EVENT' });
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) fail('payload', 'must be an object { metadata }');
  const extra = Object.keys(payload).filter((key) => key !== 'metadata');
  if (extra.length > 0) fail('payload', `unknown field(s): ${extra.join(', ')}`);
  const metadata = validateMetadata(payload.metadata, 'payload.metadata');
  let eventId = event.eventId;
  if (eventId === undefined) eventId = randomUUID();
  else if (typeof eventId !== 'string' || !UUID_PATTERN.test(eventId)) fail('eventId', `must be a UUID, got ${JSON.stringify(eventId) ?? typeof eventId}`);
  // Postgres renders uuids in lower case; compare and return them that way.
  // The trace context is the caller's, taken now (at write), not the relay's at dispatch.
  return { eventId: eventId.toLowerCase(), aggregateType, aggregateId: id, version, eventType, payload: { metadata }, traceContext: captureTraceContext() };
}

/**
 * The INSERT of outbox rows, one array parameter per column (never one
 * placeholder per value: node-postgres wraps past 65,535 parameters). An event
 * id already delivered or already pending is skipped, so re-enqueueing is a
 * no-op. postTransaction embeds it in its single write statement.
 *
 * `freshIds`: every row's event id was made just now (thinOutboxRow's
 * randomUUID), so no earlier row can hold it and neither guard is needed; a
 * collision would fail on outbox_event_id_key, loudly, instead of dropping the
 * event. The guards cost a posting (2 rows) 70–90 µs of CPU, a third of the
 * outbox's cost to the writer, the NOT EXISTS most of it (same-run A/B at
 * concurrency 8: bench/results/writer-cost-ab.md).
 */
export function outboxInsert(rows: readonly OutboxRow[], options: { freshIds?: boolean } = {}): Sql {
  const guards = options.freshIds === true ? empty : SKIP_KNOWN_EVENT_IDS;
  // Without a trace context (no SDK, or no active span) the statement is the
  // one it was before tracing existed: no extra column, no extra parameter.
  if (rows.some((r) => r.traceContext)) return tracedOutboxInsert(rows, guards);
  return sql`
    INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload)
    SELECT r.event_id, r.aggregate_type, r.aggregate_id, r.version, r.event_type, r.payload::jsonb
    FROM unnest(
      ${rows.map((r) => r.eventId)}::uuid[], ${rows.map((r) => r.aggregateType)}::text[],
      ${rows.map((r) => r.aggregateId)}::text[], ${rows.map((r) => r.version)}::int[],
      ${rows.map((r) => r.eventType)}::text[], ${rows.map(payloadText)}::text[]
    ) AS r(event_id, aggregate_type, aggregate_id, version, event_type, payload)
    ${guards}`;
}

const SKIP_KNOWN_EVENT_IDS = sql`
    WHERE NOT EXISTS (SELECT 1 FROM outbox_delivered d WHERE d.event_id = r.event_id)
    ON CONFLICT (event_id) DO NOTHING`;

/** SQL NULL for a thin event (JSON.stringify(null) would store a jsonb `null`). */
function payloadText(row: OutboxRow): string | null {
  return row.payload ? JSON.stringify(row.payload) : null;
}

function tracedOutboxInsert(rows: readonly OutboxRow[], guards: Sql): Sql {
  return sql`
    INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload, trace_context)
    SELECT r.event_id, r.aggregate_type, r.aggregate_id, r.version, r.event_type, r.payload::jsonb, r.trace_context::jsonb
    FROM unnest(
      ${rows.map((r) => r.eventId)}::uuid[], ${rows.map((r) => r.aggregateType)}::text[],
      ${rows.map((r) => r.aggregateId)}::text[], ${rows.map((r) => r.version)}::int[],
      ${rows.map((r) => r.eventType)}::text[], ${rows.map(payloadText)}::text[],
      ${rows.map((r) => (r.traceContext ? JSON.stringify(r.traceContext) : null))}::text[]
    ) AS r(event_id, aggregate_type, aggregate_id, version, event_type, payload, trace_context)
    ${guards}`;
}

/**
 * Insert outbox rows in one statement (one array per column, so any number
 * of rows fits in six bind parameters), skipping event ids already in the
 * outbox or already delivered. Returns each row's id, in input order.
 */
export async function insertOutboxRows(db: SqlDb, rows: readonly OutboxRow[]): Promise<{ id: number; eventId: string }[]> {
  if (rows.length === 0) return [];
  const eventIds = rows.map((r) => r.eventId);
  const inserted = await db.query<{ id: string; event_id: string }>(sql`${outboxInsert(rows)}
    RETURNING id, event_id::text`);
  const ids = new Map(inserted.rows.map((r) => [r.event_id, Number(r.id)]));
  const missing = eventIds.filter((eventId) => !ids.has(eventId));
  if (missing.length > 0) {
    // Only reached when a caller re-enqueues an event id it passed before.
    const existing = await db.query<{ id: string; event_id: string }>(sql`
      SELECT id, event_id::text FROM outbox WHERE event_id = ANY(${missing}::uuid[])
      UNION ALL
      SELECT id, event_id::text FROM outbox_delivered WHERE event_id = ANY(${missing}::uuid[])`);
    for (const r of existing.rows) ids.set(r.event_id, Number(r.id));
  }
  return eventIds.map((eventId) => {
    const id = ids.get(eventId);
    // A row delivered and then pruned between the two statements: nothing to point at, and nothing left to do.
    return { id: id ?? 0, eventId };
  });
}

function fail(path: string, message: string): never {
  throw new ValidationError('INVALID_EVENT', `${path}: ${message}`, { details: { path } });
}
