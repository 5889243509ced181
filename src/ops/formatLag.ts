import type { OutboxLag } from '../outbox/readLag.ts';

function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return '-';
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${value.toFixed(1)} s`;
  if (value < 7200) return `${(value / 60).toFixed(1)} min`;
  return `${(value / 3600).toFixed(1)} h`;
}

function ago(value: Date | string | null | undefined, now = Date.now()): string {
  if (!value) return 'never';
  return `${seconds((now - new Date(value).getTime()) / 1000)} ago`;
}

/** The lag as a table a person reads at a glance. */
export function formatLag(lag: OutboxLag): string {
  const rows: [string, string][] = [
    ['pending', String(lag.pendingCount)],
    ['oldest pending', seconds(lag.oldestPendingSeconds)],
    ['in flight', String(lag.inFlightCount)],
    ['dead', String(lag.deadCount)],
    ['delivered (last minute)', String(lag.deliveredLastMinute)],
    ['relays alive', String(lag.relaysAlive)],
    ['last delivery', ago(lag.lastDeliveredAt)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  for (const p of lag.paused ?? []) {
    lines.push(`PAUSED ${p.scope === '*' ? 'whole fleet' : `type ${p.scope}`} by ${p.paused_by} ${ago(p.paused_at)}: ${p.reason.replace(/\s+/g, ' ')}`);
  }
  const relays = (lag.relays ?? []) as { id: string; host: string; pid: number; heartbeat_at: string; last_delivered_at: string | null; delivered_count: number }[];
  if (relays.length > 0) {
    lines.push('', 'relay'.padEnd(40) + '  heartbeat     last delivery   delivered');
    for (const r of relays) {
      lines.push(`${r.id.slice(0, 40).padEnd(40)}  ${ago(r.heartbeat_at).padEnd(12)}  ${ago(r.last_delivered_at).padEnd(14)}  ${r.delivered_count}`);
    }
  }
  return lines.join('\n');
}
