import { describe, expect, it } from 'vitest';
import { createRelayMetrics } from '../../../src/ops/metrics.ts';
import { recordReconcileMetrics } from '../../../src/reconcile/recordReconcileMetrics.ts';

describe('recordReconcileMetrics', () => {
  it('sets last run (when it finished), last ok and problems per check that ran', async () => {
    const metrics = createRelayMetrics({ defaultMetrics: false });
    recordReconcileMetrics(metrics, {
      ok: false,
      startedAt: '2025-01-01T00:00:00.000Z',
      durationMs: 2500,
      checks: { 'metadata-sync': { problems: 3, samples: [], checked: 10 }, balances: { problems: 0, samples: [], checked: 2 } },
    });
    const text = await metrics.registry.metrics();
    expect(text).toContain(`outbox_relay_reconcile_last_run_timestamp_seconds ${Date.parse('2025-01-01T00:00:00.000Z') / 1000 + 2.5}`);
    expect(text).toContain('outbox_relay_reconcile_last_ok 0');
    expect(text).toContain('outbox_relay_reconcile_problems{check="metadata-sync"} 3');
    expect(text).toContain('outbox_relay_reconcile_problems{check="balances"} 0');
    expect(text).not.toContain('check="double-entry"');
  });
});
