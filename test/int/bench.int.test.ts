/**
 * The benchmark harness on a tiny size, so it cannot rot: every scenario and
 * baseline runs end to end and the three outputs come out with real numbers.
 * Outputs go to a temp folder, never bench/results.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { renderMedians } from '../../bench/medians.ts';
import { runBench } from '../../bench/run.ts';
import type { BenchResults } from '../../bench/support/results.ts';

const outDir = mkdtempSync(join(tmpdir(), 'outbox-relay-bench-'));

afterAll(() => {
  rmSync(outDir, { recursive: true, force: true });
});

describe('bench harness (tiny)', () => {
  it('runs every scenario and writes JSON, markdown and SVG with numbers > 0', { timeout: 300_000 }, async () => {
    const { databaseUrl, mongoUrl } = inject('services');
    const { files } = await runBench({ mode: 'tiny', outDir, databaseUrl, mongoUrl, log: () => {} });
    expect(Object.keys(files).sort()).toEqual(['json', 'markdown', 'svg']);
    for (const file of Object.values(files)) expect(existsSync(file)).toBe(true);

    const results = JSON.parse(readFileSync(files.json, 'utf8')) as BenchResults;
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.postgres).toMatch(/PostgreSQL/);
    expect(results.machine.mongoCompatible).toMatch(/MongoDB/);
    for (const throughput of [results.drain, results.sinkLimit, results.sourceLimit, results.naive, ...results.scaleOut]) {
      expect(throughput.eventsPerSecond).toBeGreaterThan(0);
    }
    expect(results.drain.documents).toBe(results.settings.drainEvents);
    expect(results.drain.peakRssMiB).toBeGreaterThan(0);
    expect(results.drain.cpuSecondsPer1000).toBeGreaterThanOrEqual(0);
    expect(results.drain.claimStart.executionMs).toBeGreaterThan(0);
    expect(results.scaleOut.map((s) => s.relays)).toEqual([1, 2]);
    // The relay apart from the sink: every event recorded delivered, none left, figures measured.
    expect(results.nullSink?.documents).toBe(results.settings.nullSinkEvents);
    expect(results.nullSink?.eventsPerSecond).toBeGreaterThan(0);
    expect(results.nullSink?.peakRssMiB).toBeGreaterThan(0);
    expect(results.nullSink?.concurrency).toBe(results.settings.nullSinkConcurrency);
    expect(results.nullSinkDefaultConcurrency?.concurrency).toBe(results.settings.relayConcurrency);
    expect(results.nullSinkNodeDefaults?.nodeOptions).toBe('');
    expect(results.nullSink?.nodeOptions).toMatch(/--max-semi-space-size/);
    for (const run of [results.nullSinkDefaultConcurrency, results.nullSinkNodeDefaults]) expect(run?.documents).toBe(results.settings.nullSinkEvents);
    // The peer at its defaults and at its documented best, each with the fenced upsert and a no-op.
    expect(results.peers?.map((p) => (p.installed ? `${p.profile}/${p.task}/${p.concurrency}` : p.reason))).toEqual(['default/upsert/10', 'best/upsert/24', 'default/noop/10', 'best/noop/24']);
    for (const p of results.peers ?? []) if (p.installed) expect(p.eventsPerSecond).toBeGreaterThan(0);
    expect(results.latency.map((l) => l.mode).sort()).toEqual(['notify', 'poll']);
    for (const l of results.latency) {
      expect(l.postings).toBeGreaterThan(0);
      expect(Number.isFinite(l.latency.p99)).toBe(true);
    }
    expect(results.writer.length).toBeGreaterThan(0);
    for (const w of results.writer) {
      expect(w.median.none).toBeGreaterThan(0);
      expect(w.median.outboxOff).toBeGreaterThan(0);
      expect(Number.isFinite(w.costNotifyBusyVsOff)).toBe(true);
      expect(w.median.outbox).toBeGreaterThan(0);
      expect(w.median.notifyBusy).toBeGreaterThan(0);
      expect(w.median.notifyWaiting).toBeGreaterThan(0);
      // CPU per posting from the same windows, unless the server's processes are not visible here (a container).
      if (w.cpu === undefined) expect(w.cpuUnavailable).toMatch(/not readable/);
      else {
        expect(w.cpu.backends).toBe(w.concurrency);
        for (const c of Object.values(w.cpu.perPosting)) {
          expect(c.backendUs).toBeGreaterThan(0);
          expect(c.clientUs).toBeGreaterThan(0);
        }
        expect(Number.isFinite(w.cpu.costNotifyBusyVsOff)).toBe(true);
      }
    }
    expect(results.targets.length).toBeGreaterThanOrEqual(7);

    // Two runs' worth of the same results: every figure has a median (latency rows
    // and writer rows name the quick mode's rates and concurrency, which a tiny run does not measure).
    const medians = renderMedians([results, results]);
    const rows = medians.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| figure') && !line.startsWith('| ---'));
    expect(rows.length).toBeGreaterThanOrEqual(15);
    const measured = rows.filter((r) => !r.includes('p99 at') && !r.includes('concurrency 8'));
    expect(measured.length).toBeGreaterThan(0);
    for (const row of measured) expect(row, row).toMatch(/\*\*[0-9.]+\*\* \|$/);

    const markdown = readFileSync(files.markdown, 'utf8');
    expect(markdown).toContain('## Targets');
    expect(markdown).toContain(String(results.drain.eventsPerSecond));
    const svg = readFileSync(files.svg, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('<rect');
    expect(svg).toContain('<polyline');
  });
});
