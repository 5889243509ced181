import type { SqlDb } from '../../db/sqlDb.ts';
import type { ClaimedRow } from '../claimBatch.ts';
import type { OutboxEvent } from '../../types.ts';
import type { SlotPosition } from './slotPosition.ts';

/** An event read from the log, with the slot and window it was read in. */
export interface LogEvent extends OutboxEvent {
  slot: number;
  /** The entity whose slot the row follows when not its own (an operation follows its transaction). */
  slotKey: string | null;
  /** Its entity is parked, or its type paused: set aside, not sent. */
  parked: boolean;
  /** Its entity is being retried: sent, and no longer parked once delivered. */
  replaying: boolean;
}

/** The window a slot's rows of this batch came from: what advanceSlots needs to move the slot past them. */
export interface ReadWindow {
  upper: string;
  maxId: number;
  /** The last id of this slot read in the batch. */
  lastId: number;
}

export interface WindowBatch {
  /** In slot order as read, each slot's rows in id order. */
  events: LogEvent[];
  /** Only the slots that returned rows. */
  windows: Map<number, ReadWindow>;
}

/** A row of the log as outbox_log_read returns it: a claimed row's columns, less the attempt count the log does not keep. */
interface LogRow extends Omit<ClaimedRow, 'attempts'> {
  slot_key: string | null;
  slot: number;
  window_upper: string;
  window_max: string;
  parked: boolean;
  replaying: boolean;
}

/**
 * Read up to `limit` events from the windows of the given slots, in the order
 * given (the caller rotates it), each slot's next page in id order; one
 * statement (outbox_log_read, drizzle/0013_outbox_log.sql), which writes
 * nothing. A slot with no open window opens one on the statement's own
 * snapshot, so no ticker is needed. Reading does not move a slot: the caller
 * does, after the sink acknowledged (advanceSlots).
 */
export async function readWindowBatch(db: SqlDb, options: { positions: readonly SlotPosition[]; limit: number; pausedTypes?: readonly string[] }): Promise<WindowBatch> {
  const { positions, limit } = options;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`readWindowBatch: limit must be a positive integer (got ${limit})`);
  const windows = new Map<number, ReadWindow>();
  if (positions.length === 0) return { events: [], windows };
  const { rows } = await db.query<LogRow>({
    name: 'outbox_log_read',
    text: 'SELECT * FROM outbox_log_read($1::smallint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6, $7::text[])',
    values: [
      positions.map((p) => p.slot),
      positions.map((p) => p.lower),
      positions.map((p) => p.upper),
      positions.map((p) => p.afterId),
      positions.map((p) => p.maxId),
      limit,
      options.pausedTypes ?? [],
    ],
  });
  const events = rows.map((row): LogEvent => {
    const id = Number(row.id);
    windows.set(row.slot, { upper: row.window_upper, maxId: Number(row.window_max), lastId: id });
    return {
      id,
      eventId: row.event_id,
      aggregateType: row.aggregate_type,
      aggregateId: row.aggregate_id,
      version: row.version,
      eventType: row.event_type,
      payload: row.payload,
      createdAt: row.created_at,
      attempts: 0,
      traceContext: row.trace_context,
      slot: row.slot,
      slotKey: row.slot_key,
      parked: row.parked,
      replaying: row.replaying,
    };
  });
  return { events, windows };
}
