/** The issue's targets, checked against one run's figures. */
import type { BenchResults } from './results.ts';
import { relayCpuMsPer1000, round } from './stats.ts';

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
  note?: string;
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const x = (v: number) => `${v.toFixed(2)}×`;

export function checkTargets(r: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const drain = r.drain.eventsPerSecond;
  const limit = Math.min(r.sinkLimit.eventsPerSecond, r.sourceLimit.eventsPerSecond);
  const limiter = r.sinkLimit.eventsPerSecond <= r.sourceLimit.eventsPerSecond ? 'sink (FerretDB)' : 'source (Postgres claim/mark)';
  checks.push({ target: 'drain ≥ 0.9 × min(sink, source)', measured: `${drain} / ${limit} ev/s = ${x(drain / limit)}`, met: drain >= 0.9 * limit, note: `the lower limit is the ${limiter}` });
  checks.push({ target: 'drain ≥ 10 × naive', measured: `${drain} / ${r.naive.eventsPerSecond} ev/s = ${x(drain / r.naive.eventsPerSecond)}`, met: drain >= 10 * r.naive.eventsPerSecond });
  // Against the peer at its best (its documented throughput settings); its defaults are in the table.
  const best = peerRun(r, 'best', 'upsert') ?? (r.peer.installed ? r.peer : undefined);
  if (best) {
    checks.push({ target: `drain ≥ 1.5 × graphile-worker (${best.profile ?? 'default'} settings, fenced upsert)`, measured: `${drain} / ${best.eventsPerSecond} ev/s = ${x(drain / best.eventsPerSecond)}`, met: drain >= 1.5 * best.eventsPerSecond });
  } else {
    checks.push({ target: 'drain ≥ 1.5 × graphile-worker', measured: 'not measured', met: null, note: r.peer.installed ? undefined : r.peer.reason });
  }
  if (r.nullSink) {
    const ns = r.nullSink;
    checks.push({ target: 'null-sink relay ≥ 30,000 events/s', measured: `${ns.eventsPerSecond} ev/s at concurrency ${ns.concurrency} (${ns.events} events; ${round(relayCpuMsPer1000(ns), 1)} relay CPU ms per 1,000; peak RSS ${ns.peakRssMiB} MiB)${r.nullSinkDefaultConcurrency ? `; ${r.nullSinkDefaultConcurrency.eventsPerSecond} ev/s at concurrency ${r.nullSinkDefaultConcurrency.concurrency}` : ''}`, met: ns.eventsPerSecond >= 30_000 });
    const peerNoop = peerRun(r, 'best', 'noop');
    if (peerNoop) checks.push({ target: 'null-sink relay ≥ 1.5 × graphile-worker no-op at its best', measured: `${ns.eventsPerSecond} / ${peerNoop.eventsPerSecond} ev/s = ${x(ns.eventsPerSecond / peerNoop.eventsPerSecond)}`, met: ns.eventsPerSecond >= 1.5 * peerNoop.eventsPerSecond });
  }
  const notifyAt = r.latency.filter((l) => l.mode === 'notify' && l.targetRate === r.settings.notifyTargetRate)[0];
  if (notifyAt) {
    checks.push({ target: `NOTIFY p99 ≤ 50 ms at ${r.settings.notifyTargetRate}/s`, measured: `p99 ${notifyAt.latency.p99} ms (p50 ${notifyAt.latency.p50}, p99.9 ${notifyAt.latency.p999})`, met: notifyAt.latency.p99 <= 50 });
  }
  const polls = r.latency.filter((l) => l.mode === 'poll');
  if (polls.length) {
    const worst = polls.reduce((a, b) => (b.latency.p99 > a.latency.p99 ? b : a));
    checks.push({ target: `polling p99 ≤ poll interval + 50 ms (${worst.pollIntervalMs + 50} ms)`, measured: `worst p99 ${worst.latency.p99} ms at ${worst.targetRate}/s`, met: worst.latency.p99 <= worst.pollIntervalMs + 50 });
  }
  const w8 = r.writer.find((w) => w.concurrency === 8);
  if (w8?.cpu) {
    // Writer cost as CPU per posting, not postings/s: on this shared machine the
    // wall-clock figure swings by tens of points between runs with the
    // neighbours' load (−0.5 %, 20.5 %, 36.7 % in three runs), while CPU per
    // posting is what the outbox adds to each write whoever else runs.
    const c = w8.cpu;
    checks.push({
      target: 'writer cost ≤ 10 % at concurrency 8 (outbox on vs off, same postings; as deployed under load: NOTIFY trigger on, relays busy): CPU per posting, writers\' PostgreSQL backends + writer process',
      measured: `${c.perPosting.notifyBusy.totalUs} vs ${c.perPosting.outboxOff.totalUs} µs per posting = +${pct(c.costNotifyBusyVsOff)} (paired ${pct(c.costNotifyBusyVsOffPaired)}; backends alone ${pct(c.backendCostNotifyBusyVsOff)}; outbox rows without the trigger ${pct(c.costOutboxVsOff)}); wall clock in the same windows ${pct(w8.costNotifyBusyVsOff ?? Number.NaN)} fewer postings/s`,
      met: c.costNotifyBusyVsOff <= 0.1,
    });
  } else if (w8?.costNotifyBusyVsOff !== undefined) {
    checks.push({
      target: 'writer cost ≤ 10 % at concurrency 8 (outbox on vs off, same postings; as deployed under load: NOTIFY trigger on, relays busy)',
      measured: `${pct(w8.costNotifyBusyVsOff)} on medians, ${pct(w8.costNotifyBusyVsOffPaired ?? Number.NaN)} paired (outbox rows alone ${pct(w8.costOutboxVsOff ?? Number.NaN)}; against a bare posting without metadata ${pct(w8.costNotifyBusy)})`,
      met: w8.costNotifyBusyVsOff <= 0.1,
    });
  } else if (w8) {
    checks.push({
      target: 'outbox + NOTIFY writer cost ≤ 15 % at concurrency 8 (as deployed under load: relays busy)',
      measured: `${pct(w8.costNotifyBusy)} (outbox alone ${pct(w8.costOutbox)}; with a relay waiting, every commit notifying: ${pct(w8.costNotifyWaiting)})`,
      met: w8.costNotifyBusy <= 0.15,
    });
  }
  checks.push({ target: `relay peak RSS ≤ 150 MiB through the ${r.drain.events}-event drain`, measured: `${r.drain.peakRssMiB} MiB (VmHWM, whole process life)`, met: r.drain.peakRssMiB <= 150 });
  checks.push({
    target: 'claim latency at end ≤ 2 × start',
    measured: `${r.drain.claimEnd.executionMs} ms vs ${r.drain.claimStart.executionMs} ms (dead tuples ${r.drain.deadTuplesStart} → ${r.drain.deadTuplesEnd})`,
    met: r.drain.claimEnd.executionMs <= 2 * r.drain.claimStart.executionMs,
  });
  // Scale-out compares runs of the same backlog size (quick mode drains 100,000 once and scales out on 10,000).
  const one = r.scaleOut.find((s) => s.relays === 1) ?? r.drain;
  for (const s of r.scaleOut.filter((s) => s.relays > 1)) {
    const ratio = s.eventsPerSecond / one.eventsPerSecond;
    const want = s.relays === 2 ? 1.6 : s.relays * 0.8;
    const cpu = s.cpu;
    const saturated = cpu.machineBusyCores >= 0.85 * cpu.machineCores;
    const note = `during the ${s.relays}-relay drain: machine ${cpu.machineBusyCores.toFixed(2)}/${cpu.machineCores.toFixed(2)} cores busy, FerretDB ${cpu.ferretdbCores?.toFixed(2) ?? '?'}, Postgres ${cpu.postgresCores.toFixed(2)}, relays ${cpu.relayCores.toFixed(2)}; sink limit ${r.sinkLimit.eventsPerSecond} ev/s${saturated ? ' — CPU saturated' : ''}`;
    checks.push({ target: `${s.relays} relays ≥ ${want.toFixed(1)} × one`, measured: `${s.eventsPerSecond} / ${one.eventsPerSecond} ev/s = ${x(ratio)} (${s.events} events each)`, met: ratio >= want, note: ratio >= want ? undefined : `limiting resource: ${limitingResource(r, s.eventsPerSecond, saturated)}; ${note}` });
  }
  return checks;
}

/** One of the peer's runs, when it ran. */
export function peerRun(r: BenchResults, profile: 'default' | 'best', task: 'upsert' | 'noop') {
  const found = r.peers?.find((p) => p.installed && p.profile === profile && p.task === task);
  return found?.installed ? found : undefined;
}

export function limitingResource(r: BenchResults, eventsPerSecond: number, saturated: boolean): string {
  const sinkBound = eventsPerSecond >= 0.7 * r.sinkLimit.eventsPerSecond && r.sinkLimit.eventsPerSecond < r.sourceLimit.eventsPerSecond;
  if (sinkBound && saturated) return 'FerretDB (the sink) on a CPU-saturated 2-core machine';
  if (sinkBound) return 'FerretDB (the sink)';
  if (saturated) return 'machine CPU (2 cores shared by Postgres, FerretDB, relays and other tenants)';
  return 'not CPU-bound: round trips to the sink (latency-bound)';
}
