import type { TimeInOutbox } from '../outbox/readTimeInOutbox.ts';

function ms(seconds: number | null): string {
  if (seconds === null) return '-';
  return seconds < 10 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`;
}

/** Time in outbox for `outbox-relay status`: p50/p99 over the window, overall and per aggregate type. */
export function formatTimeInOutbox(t: TimeInOutbox): string {
  const head = `time in outbox (last ${t.windowSeconds} s, created → delivered)`;
  if (t.count === 0) return `${head}: no deliveries`;
  const lines = [`${head}: p50 ${ms(t.p50Seconds)}  p99 ${ms(t.p99Seconds)}  over ${t.count} events`];
  if (t.byAggregateType.length > 1) {
    for (const a of t.byAggregateType) lines.push(`  ${a.aggregateType.padEnd(20)}  p50 ${ms(a.p50Seconds).padEnd(8)}  p99 ${ms(a.p99Seconds).padEnd(8)}  ${a.count} events`);
  }
  return lines.join('\n');
}
