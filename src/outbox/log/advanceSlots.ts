import type { SqlDb } from '../../db/sqlDb.ts';
import type { SlotPosition } from './slotPosition.ts';

/**
 * The one write per batch on the relay's happy path: move each slot to its
 * new position, only while (owner, epoch) still match. A slot missing from
 * the answer was taken over (or released) meanwhile: its batch is dropped,
 * and its new owner delivers those rows again from the last position written
 * (the sink's version fence makes that harmless).
 *
 * `delivered`: rows this batch moved the slot past, per slot (for `status`).
 */
export const ADVANCE_SLOTS_SQL = `
UPDATE outbox_slot s
   SET lower = u.lower::pg_snapshot,
       upper = u.upper::pg_snapshot,
       after_id = u.after_id,
       max_id = u.max_id,
       advanced_at = now(),
       delivered = s.delivered + u.delivered
  FROM unnest($2::smallint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[])
       AS u(slot, epoch, lower, upper, after_id, max_id, delivered)
 WHERE s.slot = u.slot
   AND s.owner = $1
   AND s.epoch = u.epoch
RETURNING s.slot`;

export async function advanceSlots(
  db: SqlDb,
  options: { owner: string; moves: readonly { position: SlotPosition; delivered: number }[] },
): Promise<{ advanced: number[]; lost: number[] }> {
  const { owner, moves } = options;
  if (moves.length === 0) return { advanced: [], lost: [] };
  const { rows } = await db.query<{ slot: number }>({
    name: 'outbox_log_advance',
    text: ADVANCE_SLOTS_SQL,
    values: [
      owner,
      moves.map((m) => m.position.slot),
      moves.map((m) => m.position.epoch),
      moves.map((m) => m.position.lower),
      moves.map((m) => m.position.upper),
      moves.map((m) => m.position.afterId),
      moves.map((m) => m.position.maxId),
      moves.map((m) => m.delivered),
    ],
  });
  const held = new Set(rows.map((r) => r.slot));
  return {
    advanced: moves.map((m) => m.position.slot).filter((s) => held.has(s)),
    lost: moves.map((m) => m.position.slot).filter((s) => !held.has(s)),
  };
}
