/**
 * Preloaded into a relay process by bench/memory.ts (NODE_OPTIONS --import):
 * samples process.memoryUsage() every 100 ms and counts garbage collections,
 * per phase (SIGWINCH moves start → drain → after), and writes both to
 * MEMORY_PROBE_OUT on SIGUSR2 and at exit. Costs the process about 1 MiB.
 */
import { writeFileSync } from 'node:fs';
import { constants, PerformanceObserver } from 'node:perf_hooks';

const PHASES = ['start', 'drain', 'after'];
let phase = 0;
const usage = {};
const gc = {};
const kinds = { [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental' };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const byKind = (gc[PHASES[phase]] ??= {});
    const kind = (byKind[kinds[entry.detail?.kind] ?? 'other'] ??= { count: 0, ms: 0 });
    kind.count++;
    kind.ms += entry.duration;
  }
}).observe({ entryTypes: ['gc'] });
const sample = () => {
  const peak = (usage[PHASES[phase]] ??= {});
  for (const [key, value] of Object.entries(process.memoryUsage())) peak[key] = Math.max(peak[key] ?? 0, value);
};
setInterval(sample, 100).unref();
const mib = (bytes) => Math.round((bytes / 2 ** 20) * 10) / 10;
const dump = () => {
  sample();
  const peaks = Object.fromEntries(Object.entries(usage).map(([p, u]) => [p, Object.fromEntries(Object.entries(u).map(([k, v]) => [k, mib(v)]))]));
  const collections = Object.fromEntries(Object.entries(gc).map(([p, k]) => [p, Object.fromEntries(Object.entries(k).map(([n, x]) => [n, { count: x.count, ms: Math.round(x.ms) }]))]));
  writeFileSync(process.env.MEMORY_PROBE_OUT ?? `memory-probe-${process.pid}.json`, JSON.stringify({ peaks, collections }));
};
process.on('SIGWINCH', () => {
  sample();
  phase = Math.min(phase + 1, PHASES.length - 1);
});
process.on('SIGUSR2', dump);
process.on('exit', dump);
