/**
 * A slot's position in the log, as its owner holds it in memory between the
 * fenced writes of advanceSlots (the table outbox_slot is the durable copy).
 *
 * Everything visible in `lower` is delivered. `upper`, when set, is the
 * window being read, delivered through `afterId` of its rows, whose last id
 * is `maxId`. Snapshots travel as pg_snapshot's text form (`xmin:xmax:xip,…`).
 */
export interface SlotPosition {
  slot: number;
  /** Bumped by every takeover: a write with an older epoch matches nothing. */
  epoch: number;
  lower: string | null;
  upper: string | null;
  afterId: number | null;
  maxId: number | null;
}

/** The position after delivering a slot's rows through `lastId` of the window (`upper`, `maxId`) they came from. */
export function positionAfter(position: SlotPosition, window: { upper: string; maxId: number }, lastId: number): SlotPosition {
  if (lastId >= window.maxId) return { ...position, lower: window.upper, upper: null, afterId: null, maxId: null };
  return { ...position, upper: window.upper, afterId: lastId, maxId: window.maxId };
}
