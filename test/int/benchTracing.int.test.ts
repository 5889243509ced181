/**
 * The tracing benchmark (bench/tracing.ts) on a tiny size, so it cannot rot:
 * both variants of each side really ran (the writer's `on` windows stored
 * trace contexts, the `off` ones none; the traced relays turned tracing on).
 */
import { describe, expect, inject, it } from 'vitest';
import { renderTracingMarkdown, runTracingBench, TRACING_SETTINGS } from '../../bench/tracing.ts';

describe('tracing bench (tiny)', () => {
  it('measures writer throughput off/on and relay start and RSS with and without the SDK', { timeout: 300_000 }, async () => {
    const { databaseUrl, mongoUrl } = inject('services');
    const result = await runTracingBench({ databaseUrl, mongoUrl, settings: TRACING_SETTINGS.tiny, log: () => {} });
    expect(result.writer.median.off).toBeGreaterThan(0);
    expect(result.writer.median.on).toBeGreaterThan(0);
    expect(result.writer.tracedRows.on).toBeGreaterThan(0);
    expect(result.writer.tracedRows.off).toBe(0);
    for (const variant of ['off', 'otlpProtobuf', 'otlpJson'] as const) {
      expect(result.relay[variant].medianStartMs).toBeGreaterThan(0);
      expect(result.relay[variant].medianRssMiB).toBeGreaterThan(0);
    }
    expect(result.loadTracing.otlpJson.medianMs).toBeGreaterThan(result.loadTracing.off.medianMs);
    expect(renderTracingMarkdown(result, 'now')).toContain('**on / off**');
  });
});
