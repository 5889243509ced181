/** bench/results/latest.svg, hand-written: throughput bars (log scale) and latency CDFs. */
import type { BenchResults } from './results.ts';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const COLORS = ['#2b6cb0', '#c05621', '#2f855a', '#6b46c1', '#b7791f', '#c53030', '#4a5568'];

export function renderSvg(r: BenchResults): string {
  const width = 900;
  const out: string[] = [];
  const bars: { label: string; value: number }[] = [
    { label: `relay, 1 process (${r.drain.events})`, value: r.drain.eventsPerSecond },
    ...r.scaleOut.filter((s) => s.relays > 1 || s.events !== r.drain.events).map((s) => ({ label: `relay, ${s.relays} process${s.relays > 1 ? 'es' : ''} (${s.events})`, value: s.eventsPerSecond })),
    { label: 'sink limit (FerretDB bulk)', value: r.sinkLimit.eventsPerSecond },
    { label: 'source limit (claim + mark)', value: r.sourceLimit.eventsPerSecond },
    { label: 'naive relay', value: r.naive.eventsPerSecond },
    ...(r.nullSink ? [{ label: 'relay, null sink', value: r.nullSink.eventsPerSecond }] : []),
    ...(r.peers ?? [r.peer]).flatMap((p) => (p.installed ? [{ label: `graphile-worker ${p.profile ?? 'default'} ${p.task ?? 'upsert'}`, value: p.eventsPerSecond }] : [])),
  ];
  const barTop = 50;
  const barH = 24;
  const left = 230;
  const plotW = width - left - 90;
  const maxLog = Math.ceil(Math.log10(Math.max(10, ...bars.map((b) => b.value))));
  const xOf = (v: number) => left + (Math.log10(Math.max(1, v)) / maxLog) * plotW;
  out.push(`<text x="20" y="28" font-size="16" font-weight="bold">Drain throughput, events/s (log scale) — ${esc(r.settings.mode)} run, ${esc(r.startedAt)}</text>`);
  for (let p = 0; p <= maxLog; p++) {
    const x = xOf(10 ** p);
    out.push(`<line x1="${x}" y1="${barTop - 6}" x2="${x}" y2="${barTop + bars.length * (barH + 8)}" stroke="#ddd"/>`, `<text x="${x}" y="${barTop - 10}" font-size="10" text-anchor="middle">${10 ** p}</text>`);
  }
  bars.forEach((b, i) => {
    const y = barTop + i * (barH + 8);
    out.push(
      `<text x="${left - 8}" y="${y + barH * 0.7}" font-size="12" text-anchor="end">${esc(b.label)}</text>`,
      `<rect x="${left}" y="${y}" width="${Math.max(1, xOf(b.value) - left)}" height="${barH}" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${xOf(b.value) + 6}" y="${y + barH * 0.7}" font-size="12">${Math.round(b.value)}</text>`,
    );
  });

  // Latency CDF: x = latency ms (log), y = fraction of postings applied within x.
  const top = barTop + bars.length * (barH + 8) + 60;
  const h = 260;
  const plotL = 70;
  const plotR = width - 200;
  const lat = r.latency.filter((l) => l.sample.length > 0);
  const maxMs = Math.max(10, ...lat.map((l) => l.latency.max));
  const minMs = 1;
  const lx = (ms: number) => plotL + ((Math.log10(Math.max(minMs, ms)) - Math.log10(minMs)) / (Math.log10(maxMs) - Math.log10(minMs))) * (plotR - plotL);
  const ly = (q: number) => top + h - q * h;
  out.push(`<text x="20" y="${top - 20}" font-size="16" font-weight="bold">Commit-to-applied latency: share of postings applied within x ms (log x)</text>`);
  out.push(`<rect x="${plotL}" y="${top}" width="${plotR - plotL}" height="${h}" fill="none" stroke="#999"/>`);
  for (let p = 0; 10 ** p <= maxMs * 1.001; p++) {
    const x = lx(10 ** p);
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + h}" stroke="#eee"/>`, `<text x="${x}" y="${top + h + 14}" font-size="10" text-anchor="middle">${10 ** p} ms</text>`);
  }
  for (const q of [0, 0.5, 0.9, 0.99, 1]) out.push(`<text x="${plotL - 6}" y="${ly(q) + 4}" font-size="10" text-anchor="end">${q}</text>`, `<line x1="${plotL}" y1="${ly(q)}" x2="${plotR}" y2="${ly(q)}" stroke="#eee"/>`);
  lat.forEach((l, i) => {
    const n = l.sample.length;
    const points = l.sample.map((v, k) => `${lx(v).toFixed(1)},${ly((k + 1) / n).toFixed(1)}`).join(' ');
    const color = COLORS[i % COLORS.length];
    out.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${plotR + 10}" y="${top + 16 + i * 18}" font-size="12" fill="${color}">${l.mode === 'notify' ? 'NOTIFY' : `poll ${l.pollIntervalMs} ms`} @ ${l.targetRate}/s: p99 ${Math.round(l.latency.p99)} ms</text>`);
  });
  const height = top + h + 40;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${out.join('\n')}\n</svg>\n`;
}
