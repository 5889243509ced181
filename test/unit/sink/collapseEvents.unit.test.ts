import { describe, expect, it } from 'vitest';
import { collapseEvents } from '../../../src/sink/collapseEvents.ts';
import type { SinkEvent } from '../../../src/sink/metadataSink.ts';

const event = (aggregateType: string, aggregateId: string, version: number, eventId = `${aggregateType}/${aggregateId}/v${version}`): SinkEvent => ({
  eventId,
  aggregateType,
  aggregateId,
  version,
  payload: { metadata: { version } },
});

describe('collapseEvents', () => {
  it('keeps the highest version of a document as the winner, whatever the input order', () => {
    const groups = collapseEvents([event('transaction', 'a', 2), event('transaction', 'a', 5), event('transaction', 'a', 1)]);
    expect(groups).toHaveLength(1);
    expect(groups[0]!.winner.version).toBe(5);
    expect(groups[0]!.events.map((e) => e.version)).toEqual([2, 5, 1]);
  });

  it('keeps documents apart by aggregate type as well as id', () => {
    const groups = collapseEvents([event('transaction', 'x', 1), event('operation', 'x', 2), event('transaction', 'y', 3)]);
    expect(groups.map((g) => [g.winner.aggregateType, g.winner.aggregateId, g.winner.version])).toEqual([
      ['transaction', 'x', 1],
      ['operation', 'x', 2],
      ['transaction', 'y', 3],
    ]);
  });

  it('puts every input event in exactly one group, duplicates included', () => {
    const input = [event('t', 'a', 1), event('t', 'b', 1), event('t', 'a', 1), event('t', 'a', 3), event('t', 'b', 2)];
    const groups = collapseEvents(input);
    expect(groups.flatMap((g) => g.events)).toHaveLength(input.length);
    expect(new Set(groups.flatMap((g) => g.events))).toEqual(new Set(input));
    expect(groups.map((g) => g.winner.version)).toEqual([3, 2]);
  });

  it('picks the first event seen when versions tie', () => {
    const first = event('t', 'a', 4, 'first');
    const groups = collapseEvents([first, event('t', 'a', 4, 'second')]);
    expect(groups[0]!.winner).toBe(first);
  });

  it('returns no groups for an empty batch', () => {
    expect(collapseEvents([])).toEqual([]);
  });
});
