/** bench/results/latest.md: every figure and ratio of one run. */
import type { WriterOverheadResult } from '../writerOverhead.ts';
import { relayCpuMsPer1000 } from './stats.ts';
import type { BenchResults } from './results.ts';

const f = (v: number | null | undefined, d = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d));
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '—');

export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const s = r.settings;
  const lines: string[] = [];
  lines.push(`# outbox-relay benchmark (${s.mode})`, '');
  lines.push(`${r.startedAt} → ${r.finishedAt} (${f(r.durationSeconds, 0)} s)`, '');
  lines.push('| machine | |', '| --- | --- |');
  lines.push(`| cores | ${m.cores} × ${m.cpuModel} |`, `| memory | ${m.memoryGiB} GiB |`, `| OS | ${m.os} |`, `| Node | ${m.node} |`, `| PostgreSQL | ${m.postgres} |`, `| MongoDB-compatible | ${m.mongoCompatible} |`, '');
  lines.push(
    `Settings: relay batch ${s.batchSize}, concurrency ${s.relayConcurrency}; backlog ${s.drainEvents} events (bulk SQL, one INSERT); sink baseline ${s.sinkEvents} events; ` +
      `naive ${s.naiveSeconds} s; graphile-worker ${s.peerEvents} jobs; latency ${s.latencyRates.join(', ')} postings/s × ${s.latencySeconds} s; ` +
      `writer concurrency ${s.writerConcurrency.join(', ')}, ${s.writerRounds} rounds × ${s.writerWindowSeconds} s windows. The machine is shared and noisy: compare figures within this run only.`,
    '',
  );

  lines.push('## Targets', '', '| target | measured | met |', '| --- | --- | --- |');
  for (const t of r.targets) lines.push(`| ${t.target} | ${t.measured}${t.note ? ` — ${t.note}` : ''} | ${t.met === null ? 'n/a' : t.met ? 'yes' : '**no**'} |`);
  lines.push('');

  const d = r.drain;
  lines.push('## Drain throughput (events/s)', '', '| what | events | seconds | events/s | vs relay (1) | CPU: machine busy / FerretDB / Postgres / relays (cores) |', '| --- | --- | --- | --- | --- | --- |');
  const cpu = (c: { machineBusyCores: number; machineCores: number; ferretdbCores: number | null; postgresCores: number; relayCores: number; benchProcessCores: number }, relay = true) =>
    `${f(c.machineBusyCores, 2)}/${f(c.machineCores, 2)} / ${f(c.ferretdbCores, 2)} / ${f(c.postgresCores, 2)} / ${f(relay ? c.relayCores : c.benchProcessCores, 2)}${relay ? '' : ' (bench process)'}`;
  lines.push(`| relay, 1 process | ${d.events} | ${f(d.seconds, 2)} | ${d.eventsPerSecond} | 1.00× | ${cpu(d.cpu)} |`);
  for (const so of r.scaleOut.filter((x) => x.relays > 1 || x.events !== d.events)) lines.push(`| relay, ${so.relays} process${so.relays > 1 ? 'es' : ''} | ${so.events} | ${f(so.seconds, 2)} | ${so.eventsPerSecond} | ${ratio(so.eventsPerSecond, d.eventsPerSecond)} | ${cpu(so.cpu)} |`);
  lines.push(`| sink limit (createMongoSink.apply, no Postgres) | ${r.sinkLimit.events} | ${f(r.sinkLimit.seconds, 2)} | ${r.sinkLimit.eventsPerSecond} | ${ratio(r.sinkLimit.eventsPerSecond, d.eventsPerSecond)} | ${cpu(r.sinkLimit.cpu, false)} |`);
  lines.push(`| source limit (claimBatch + markDelivered, no sink) | ${r.sourceLimit.events} | ${f(r.sourceLimit.seconds, 2)} | ${r.sourceLimit.eventsPerSecond} | ${ratio(r.sourceLimit.eventsPerSecond, d.eventsPerSecond)} | ${cpu(r.sourceLimit.cpu, false)} |`);
  lines.push(`| naive relay (1 row per transaction, updateOne) | ${r.naive.events} | ${f(r.naive.seconds, 2)} | ${r.naive.eventsPerSecond} | ${ratio(r.naive.eventsPerSecond, d.eventsPerSecond)} | ${cpu(r.naive.cpu, false)} |`);
  if (r.nullSinkDefaultConcurrency) lines.push(`| relay, 1 process, null sink, concurrency ${r.nullSinkDefaultConcurrency.concurrency} | ${r.nullSinkDefaultConcurrency.events} | ${f(r.nullSinkDefaultConcurrency.seconds, 2)} | ${r.nullSinkDefaultConcurrency.eventsPerSecond} | ${ratio(r.nullSinkDefaultConcurrency.eventsPerSecond, d.eventsPerSecond)} | ${cpu(r.nullSinkDefaultConcurrency.cpu)} |`);
  if (r.nullSinkNodeDefaults) lines.push(`| relay, 1 process, null sink, concurrency ${r.nullSinkNodeDefaults.concurrency}, Node's default V8 settings | ${r.nullSinkNodeDefaults.events} | ${f(r.nullSinkNodeDefaults.seconds, 2)} | ${r.nullSinkNodeDefaults.eventsPerSecond} | ${ratio(r.nullSinkNodeDefaults.eventsPerSecond, d.eventsPerSecond)} | ${cpu(r.nullSinkNodeDefaults.cpu)} |`);
  if (r.nullSink) lines.push(`| relay, 1 process, null sink (acknowledges at once), concurrency ${r.nullSink.concurrency} | ${r.nullSink.events} | ${f(r.nullSink.seconds, 2)} | ${r.nullSink.eventsPerSecond} | ${ratio(r.nullSink.eventsPerSecond, d.eventsPerSecond)} | ${cpu(r.nullSink.cpu)} |`);
  for (const p of r.peers ?? [r.peer]) {
    if (p.installed) lines.push(`| graphile-worker ${p.version}, ${p.profile ?? 'default'} settings (concurrency ${p.concurrency}), ${p.task ?? 'upsert'} | ${p.events} | ${f(p.seconds, 2)} | ${p.eventsPerSecond} | ${ratio(p.eventsPerSecond, d.eventsPerSecond)} | ${cpu(p.cpu, false)} |`);
    else lines.push(`| graphile-worker | — | — | — | — | ${p.reason} |`);
  }
  lines.push('');
  lines.push(`Relay drain: time to empty ${f(d.seconds, 2)} s; peak RSS ${f(d.peakRssMiB)} MiB; ${f(relayCpuMsPer1000(d), 1)} relay CPU ms per 1,000 events; documents in MongoDB ${d.documents}.`);
  if (d.nodeOptions !== undefined) lines.push(`Relay processes ran with NODE_OPTIONS=${d.nodeOptions || '(none)'} (as deployed: the Dockerfile's).`);
  if (r.nullSink && r.nullSinkNodeDefaults) lines.push(`Deployed V8 setting vs Node's defaults, null-sink drain: ${ratio(r.nullSink.eventsPerSecond, r.nullSinkNodeDefaults.eventsPerSecond)} the throughput, ${f(relayCpuMsPer1000(r.nullSink), 1)} vs ${f(relayCpuMsPer1000(r.nullSinkNodeDefaults), 1)} relay CPU ms per 1,000 events, peak RSS ${f(r.nullSink.peakRssMiB)} vs ${f(r.nullSinkNodeDefaults.peakRssMiB)} MiB.`);
  if (r.nullSink) lines.push(`Null-sink drain: time to empty ${f(r.nullSink.seconds, 2)} s; peak RSS ${f(r.nullSink.peakRssMiB)} MiB; ${f(relayCpuMsPer1000(r.nullSink), 1)} relay CPU ms per 1,000 events; rows recorded delivered ${r.nullSink.documents}.`);
  for (const so of r.scaleOut.filter((x) => x.relays > 1)) lines.push(`${so.relays} relays: peak RSS (max of processes) ${f(so.peakRssMiB)} MiB; ${f(relayCpuMsPer1000(so), 1)} CPU ms per 1,000 events (all relays).`);
  lines.push('', '## Claim query (EXPLAIN ANALYZE of the claim SELECT, rolled back)', '', '| when | execution ms (median of 3) | runs | rows | shared hit | dead tuples in outbox |', '| --- | --- | --- | --- | --- | --- |');
  lines.push(`| start (full backlog) | ${f(d.claimStart.executionMs, 3)} | ${d.claimStart.runsMs.map((v) => f(v, 2)).join(', ')} | ${d.claimStart.rows} | ${d.claimStart.sharedHit} | ${d.deadTuplesStart} |`);
  lines.push(`| end (drained) | ${f(d.claimEnd.executionMs, 3)} | ${d.claimEnd.runsMs.map((v) => f(v, 2)).join(', ')} | ${d.claimEnd.rows} | ${d.claimEnd.sharedHit} | ${d.deadTuplesEnd} |`);
  lines.push('', 'Plan at start:', '', '```', d.claimStart.plan, '```', '');

  lines.push('## Commit-to-applied latency (ms, document updatedAt − writer commit return)', '', '| wake-up | rate target | achieved | postings | p50 | p90 | p99 | p99.9 | max | writer commit p50 / p99 | errors |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const l of r.latency) {
    lines.push(`| ${l.mode === 'notify' ? 'NOTIFY' : `poll ${l.pollIntervalMs} ms`} | ${l.targetRate}/s | ${f(l.achievedRate)}/s | ${l.postings} | ${f(l.latency.p50)} | ${f(l.latency.p90)} | ${f(l.latency.p99)} | ${f(l.latency.p999)} | ${f(l.latency.max)} | ${f(l.commitLatency.p50)} / ${f(l.commitLatency.p99)} | ${l.writerErrors} |`);
  }
  lines.push('');

  lines.push(...writerLines(r.writer), '', '![charts](latest.svg)', '');
  return lines.join('\n');
}

/** The writer-overhead section (also printed by `npm run bench -- --writer`). */
export function writerLines(writer: readonly WriterOverheadResult[]): string[] {
  const lines: string[] = [];
  lines.push(
    '## Writer overhead (postTransaction postings/s; variants interleaved A B C D, D C B A, … per round)',
    '',
    '| concurrency | A none (no outbox) | B outbox, no NOTIFY | C outbox + NOTIFY trigger, relays busy | D outbox + NOTIFY, a relay waiting | cost B | cost C | cost D | windows A / B / C / D |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const w of writer) {
    lines.push(
      `| ${w.concurrency} | ${f(w.median.none)} | ${f(w.median.outbox)} (${ratio(w.median.outbox, w.median.none)}) | ${f(w.median.notifyBusy)} (${ratio(w.median.notifyBusy, w.median.none)}) | ${f(w.median.notifyWaiting)} (${ratio(w.median.notifyWaiting, w.median.none)}) | ${f(w.costOutbox * 100)} % | ${f(w.costNotifyBusy * 100)} % | ${f(w.costNotifyWaiting * 100)} % | ${w.windows.none.join(', ')} / ${w.windows.outbox.join(', ')} / ${w.windows.notifyBusy.join(', ')} / ${w.windows.notifyWaiting.join(', ')} |`,
    );
  }
  for (const w of writer) {
    if (w.median.outboxOff === undefined) continue;
    lines.push('', `Outbox on vs off, concurrency ${w.concurrency} (same postings, metadata content on the entity rows in both): O (off) ${f(w.median.outboxOff)} postings/s; B ${f(w.median.outbox)} (cost ${f((w.costOutboxVsOff ?? Number.NaN) * 100)} %, paired ${f((w.costOutboxVsOffPaired ?? Number.NaN) * 100)} %); C ${f(w.median.notifyBusy)} (cost ${f((w.costNotifyBusyVsOff ?? Number.NaN) * 100)} %, paired ${f((w.costNotifyBusyVsOffPaired ?? Number.NaN) * 100)} %). Windows O: ${w.windows.outboxOff.join(', ')}.`);
  }
  for (const w of writer) {
    if (w.median.payloadOutbox === undefined) continue;
    lines.push('', `Before/after PostgreSQL kept the content, concurrency ${w.concurrency}: P (content in the outbox payload only, as before) ${f(w.median.payloadOutbox)} postings/s (cost ${f(w.costPayloadOutbox * 100)} %), B (content on the entity rows, thin events) ${f(w.median.outbox)} postings/s: B / P = ${w.thinVsPayload} on medians, ${w.thinVsPayloadPaired} as the median of per-round ratios. Windows P: ${w.windows.payloadOutbox.join(', ')}.`);
  }
  lines.push('', 'Medians of the windows; cost = 1 − variant / none. Postings carry 2 outbox events (transaction + credit entry) in the outbox variants. C is what writers pay while relays drain (outbox_wakeup says busy, the trigger stays silent); D while a relay sits idle (every commit notifies).');
  lines.push(
    '',
    '### Writer CPU per posting (µs; same windows: the writers\' PostgreSQL backends + the writer process)',
    '',
    'What a posting costs whoever else runs on the machine; wall-clock postings/s above also measure the neighbours. Cost = variant / O (outbox off) − 1 on CPU per posting.',
    '',
    '| concurrency | O outbox off | B outbox, no NOTIFY | C outbox + NOTIFY trigger, relays busy | D outbox + NOTIFY, a relay waiting | A none | P payload outbox | cost B | cost C (paired) | cost C, backends only | cost D |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  const us = (c: { backendUs: number; clientUs: number; totalUs: number }) => `${f(c.totalUs)} (${f(c.backendUs)} + ${f(c.clientUs)})`;
  for (const w of writer) {
    const c = w.cpu;
    if (!c) {
      if (w.cpuUnavailable) lines.push(`| ${w.concurrency} | ${w.cpuUnavailable} | | | | | | | | | |`);
      continue;
    }
    const p = c.perPosting;
    lines.push(
      `| ${w.concurrency} | ${us(p.outboxOff)} | ${us(p.outbox)} | ${us(p.notifyBusy)} | ${us(p.notifyWaiting)} | ${us(p.none)} | ${us(p.payloadOutbox)} | ${f(c.costOutboxVsOff * 100)} % | ${f(c.costNotifyBusyVsOff * 100)} % (${f(c.costNotifyBusyVsOffPaired * 100)} %) | ${f(c.backendCostNotifyBusyVsOff * 100)} % | ${f(c.costNotifyWaitingVsOff * 100)} % |`,
    );
  }
  for (const w of writer) {
    if (w.cpu) lines.push('', `Concurrency ${w.concurrency}: ${w.cpu.backends} backends read from /proc/<pid>/${w.cpu.source}; µs per posting per window, O: ${w.cpu.windowsUs.outboxOff.join(', ')}; C: ${w.cpu.windowsUs.notifyBusy.join(', ')}.`);
  }
  return lines;
}
