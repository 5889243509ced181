import type { SinkEvent } from './metadataSink.ts';

/** One document's events inside a batch: the newest is written, the rest share its outcome. */
export interface CollapsedGroup<E extends SinkEvent = SinkEvent> {
  /** The event with the highest version (the first one seen on a tie). */
  winner: E;
  /** Every event of the group, the winner included, in input order. */
  events: E[];
}

/**
 * Collapse events for the same (aggregateType, aggregateId) to the one with the
 * highest version. Writing only the newest is what an in-order apply would end
 * with, and the older ones would be fenced no-ops anyway, so they share its
 * outcome. Groups come back in the order their first event appeared.
 */
export function collapseEvents<E extends SinkEvent>(events: readonly E[]): CollapsedGroup<E>[] {
  const byType = new Map<string, Map<string, CollapsedGroup<E>>>();
  const groups: CollapsedGroup<E>[] = [];
  for (const event of events) {
    let byId = byType.get(event.aggregateType);
    if (!byId) {
      byId = new Map();
      byType.set(event.aggregateType, byId);
    }
    const group = byId.get(event.aggregateId);
    if (!group) {
      const created = { winner: event, events: [event] };
      byId.set(event.aggregateId, created);
      groups.push(created);
      continue;
    }
    group.events.push(event);
    if (event.version > group.winner.version) group.winner = event;
  }
  return groups;
}
