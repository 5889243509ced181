/**
 * bench/medians.ts: every figure of the medians table shows what the runs
 * measured. The null-sink relay's CPU per 1,000 events (about 0.012 CPU s)
 * showed as 0 in every run, rounded to one decimal.
 */
import { describe, expect, it } from 'vitest';
import { formatFigure, renderMedians } from '../../../bench/medians.ts';
import type { BenchResults } from '../../../bench/support/results.ts';

/** Just the fields the medians read; a drain of 100,000 events that cost the relay `relayCpuSeconds`. */
function run(relayCpuSeconds: number): BenchResults {
  const drain = { events: 100_000, eventsPerSecond: 1_000, peakRssMiB: 120, cpu: { relayCpuSeconds: relayCpuSeconds * 3 }, claimStart: { executionMs: 1 }, claimEnd: { executionMs: 1 } };
  const results = {
    startedAt: '2026-11-27T00:00:00.000Z',
    settings: { mode: 'quick' },
    drain,
    sinkLimit: { eventsPerSecond: 1_000 },
    sourceLimit: { eventsPerSecond: 10_000 },
    naive: { eventsPerSecond: 100 },
    peer: { installed: false, reason: 'not run' },
    scaleOut: [],
    latency: [],
    writer: [],
    nullSink: { ...drain, eventsPerSecond: 20_000, cpuSecondsPer1000: 0.012, cpu: { relayCpuSeconds } },
  };
  return results as unknown as BenchResults;
}

const row = (markdown: string, name: string) => markdown.split('\n').find((line) => line.startsWith(`| ${name}`));

describe('bench medians', () => {
  it('shows the null-sink relay CPU per 1,000 events in CPU ms, per run and as the median', () => {
    // 1.2, 1.4 and 1.5 CPU s for 100,000 events: 12, 14 and 15 ms per 1,000.
    const markdown = renderMedians([run(1.2), run(1.4), run(1.5)]);
    expect(row(markdown, 'null-sink relay CPU per 1,000 events')).toBe('| null-sink relay CPU per 1,000 events (CPU ms) | 12 | 14 | 15 | **14** |');
    expect(row(markdown, 'relay CPU per 1,000 events, drain')).toBe('| relay CPU per 1,000 events, drain (MongoDB sink) (CPU ms) | 36 | 42 | 45 | **42** |');
  });

  it('never shows a measured non-zero figure as 0', () => {
    expect(formatFigure(0.012, 1)).toBe('0.012');
    expect(formatFigure(0.0123456, 1)).toBe('0.012');
    expect(formatFigure(-0.04, 1)).toBe('-0.04');
    expect(formatFigure(0, 1)).toBe('0');
    expect(formatFigure(12.345, 1)).toBe('12.3');
    expect(formatFigure(0.876, 2)).toBe('0.88');
  });
});
