/**
 * The soak (bench/soak.ts) on a tiny size, so it cannot rot: the sink limit is
 * measured first, the writer posts without errors while the relay process
 * runs, and RSS is sampled through the run and judged on its second half.
 */
import { describe, expect, inject, it } from 'vitest';
import { renderSoakMarkdown, runSoak } from '../../bench/soak.ts';

describe('soak bench (tiny)', () => {
  it('samples the relay RSS under a steady writer and judges growth over the second half', { timeout: 180_000 }, async () => {
    const { databaseUrl, mongoUrl } = inject('services');
    const result = await runSoak({ databaseUrl, mongoUrl, settings: { minutes: 0.25, rate: 10, sampleEverySeconds: 1, sinkProbeEvents: 200 }, log: () => {} });
    expect(result.sinkLimitEventsPerSecond).toBeGreaterThan(0);
    expect(result.postings).toBeGreaterThan(50);
    expect(result.writerErrors).toBe(0);
    expect(result.rss.length).toBeGreaterThanOrEqual(10);
    for (const [, mib] of result.rss) expect(mib).toBeGreaterThan(30);
    expect(result.warmMedianMiB).toBeGreaterThan(0);
    expect(result.endMedianMiB).toBeGreaterThan(0);
    expect(result.grew).toBe(result.endMedianMiB > result.warmMedianMiB * 1.05 + 2);
    expect(renderSoakMarkdown(result)).toContain('| growth |');
  });
});
