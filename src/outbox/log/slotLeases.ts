import type { SqlDb } from '../../db/sqlDb.ts';
import type { SlotPosition } from './slotPosition.ts';

interface PositionRow {
  slot: number;
  epoch: string;
  lower: string | null;
  upper: string | null;
  after_id: string | null;
  max_id: string | null;
}

function toPosition(row: PositionRow): SlotPosition {
  return {
    slot: row.slot,
    epoch: Number(row.epoch),
    lower: row.lower,
    upper: row.upper,
    afterId: row.after_id === null ? null : Number(row.after_id),
    maxId: row.max_id === null ? null : Number(row.max_id),
  };
}

/**
 * Take this relay's fair share of the slots: M ÷ live relays (outbox_relay
 * heartbeats, this one counted even before its first), rounded up, minus what
 * it holds. Free slots and slots whose lease ran out (their owner crashed or
 * froze) are taken in one statement; a takeover bumps the epoch, so the old
 * owner's late position write matches nothing (advanceSlots). SKIP LOCKED:
 * two relays taking slots at once take different ones.
 *
 * Returns the slots taken now, each with its position to resume from.
 */
export const ACQUIRE_SLOTS_SQL = `
WITH live AS (
  SELECT count(*) FILTER (WHERE id <> $1) + 1 AS relays
    FROM outbox_relay
   WHERE stopped_at IS NULL AND heartbeat_at > now() - $3::float8 * interval '1 millisecond'
), held AS (
  SELECT count(*) AS n FROM outbox_slot WHERE owner = $1 AND lease_until > now()
), wanted AS (
  SELECT greatest(0, ceil(outbox_slot_count()::numeric / live.relays)::bigint - held.n) AS n FROM live, held
), free AS (
  SELECT slot FROM outbox_slot
   WHERE owner IS NULL OR lease_until IS NULL OR lease_until <= now()
   ORDER BY slot
   LIMIT (SELECT n FROM wanted)
     FOR UPDATE SKIP LOCKED
)
UPDATE outbox_slot s
   SET owner = $1,
       epoch = s.epoch + 1,
       lease_until = now() + $2::float8 * interval '1 millisecond'
  FROM free
 WHERE s.slot = free.slot
RETURNING s.slot, s.epoch, s.lower::text, s.upper::text, s.after_id, s.max_id`;

export async function acquireSlots(db: SqlDb, options: { owner: string; leaseMs: number; liveWithinMs?: number }): Promise<SlotPosition[]> {
  const { owner, leaseMs } = options;
  if (!(leaseMs > 0)) throw new RangeError(`acquireSlots: leaseMs must be > 0 (got ${leaseMs})`);
  const { rows } = await db.query<PositionRow>({ name: 'outbox_log_acquire', text: ACQUIRE_SLOTS_SQL, values: [owner, leaseMs, options.liveWithinMs ?? 30_000] });
  return rows.map(toPosition).sort((a, b) => a.slot - b.slot);
}

/** How many slots this relay should hold now: M ÷ live relays, rounded up. */
export async function fairShare(db: SqlDb, options: { owner: string; liveWithinMs?: number }): Promise<number> {
  const { rows } = await db.query<{ share: string }>({
    text: `SELECT ceil(outbox_slot_count()::numeric / (count(*) FILTER (WHERE id <> $1) + 1))::bigint AS share
             FROM outbox_relay WHERE stopped_at IS NULL AND heartbeat_at > now() - $2::float8 * interval '1 millisecond'`,
    values: [options.owner, options.liveWithinMs ?? 30_000],
  });
  return Number(rows[0]?.share ?? 0);
}

/** Extend the leases of the slots still ours (owner and epoch); returns those. A slot missing was taken over. */
export async function renewSlots(db: SqlDb, options: { owner: string; slots: readonly { slot: number; epoch: number }[]; leaseMs: number }): Promise<number[]> {
  if (options.slots.length === 0) return [];
  const { rows } = await db.query<{ slot: number }>({
    name: 'outbox_log_renew',
    text: `UPDATE outbox_slot s SET lease_until = now() + $4::float8 * interval '1 millisecond'
             FROM unnest($2::smallint[], $3::bigint[]) AS u(slot, epoch)
            WHERE s.slot = u.slot AND s.epoch = u.epoch AND s.owner = $1
           RETURNING s.slot`,
    values: [options.owner, options.slots.map((s) => s.slot), options.slots.map((s) => s.epoch), options.leaseMs],
  });
  return rows.map((r) => r.slot).sort((a, b) => a - b);
}

/**
 * Give slots back (extras past the fair share, at a batch boundary; all of
 * them on SIGTERM). The position stays: the next owner resumes from it.
 */
export async function releaseSlots(db: SqlDb, options: { owner: string; slots: readonly { slot: number; epoch: number }[] }): Promise<number[]> {
  if (options.slots.length === 0) return [];
  const { rows } = await db.query<{ slot: number }>({
    name: 'outbox_log_release',
    text: `UPDATE outbox_slot s SET owner = NULL, lease_until = NULL
             FROM unnest($2::smallint[], $3::bigint[]) AS u(slot, epoch)
            WHERE s.slot = u.slot AND s.epoch = u.epoch AND s.owner = $1
           RETURNING s.slot`,
    values: [options.owner, options.slots.map((s) => s.slot), options.slots.map((s) => s.epoch)],
  });
  return rows.map((r) => r.slot).sort((a, b) => a - b);
}
