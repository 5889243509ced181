import { describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../../src/control/authenticate.ts';
import { createLagHistory } from '../../../src/control/lagHistory.ts';
import { PAUSE_TYPE_PATTERN, pauseStateOf } from '../../../src/control/pauseScope.ts';
import { RECONCILE_LOCK } from '../../../src/control/reconcileRunner.ts';
import { AUDIT_ACTIONS } from '../../../src/control/recordAudit.ts';
import { AGGREGATE_TYPE_PATTERN } from '../../../src/outbox/enqueue.ts';
import type { OutboxLag } from '../../../src/outbox/readLag.ts';
import { RECONCILE_LOCK_KEY } from '../../../src/reconcile/runReconcileExclusive.ts';
import { sleep } from '../../helpers/waitFor.ts';

describe('control-plane constants repeated to keep drizzle-orm out of the relay', () => {
  it('the HTTP reconcile lock is the reconcile lock every other run takes', () => {
    expect(RECONCILE_LOCK).toBe(RECONCILE_LOCK_KEY);
  });
  it('a pausable type is exactly what a writer may name an aggregate type', () => {
    expect(PAUSE_TYPE_PATTERN.source).toBe(AGGREGATE_TYPE_PATTERN.source);
  });
  it('the audit actions are the ones the table accepts', () => {
    expect(AUDIT_ACTIONS).toEqual(['requeue', 'pause', 'resume', 'reconcile', 'repair']);
  });
});

describe('createAuthenticator', () => {
  const auth = createAuthenticator([
    { name: 'alice', token: 'alice-token-0123456789' },
    { name: 'bob', token: 'bob-token-0123456789ab' },
  ]);
  it('names the holder of the token sent as Bearer (scheme case-insensitive)', () => {
    expect(auth('Bearer alice-token-0123456789')).toEqual({ kind: 'token', actor: 'alice', tenants: null });
    expect(auth('bearer bob-token-0123456789ab')).toEqual({ kind: 'token', actor: 'bob', tenants: null });
  });
  it('rejects a missing, wrong, differently-cased or other-scheme token', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ALICE-TOKEN-0123456789', 'Basic alice-token-0123456789', 'Bearer alice-token-0123456789 extra']) {
      expect(auth(header), String(header)).toEqual({ kind: 'rejected' });
    }
  });
  it('treats everyone as anonymous when no token is configured', () => {
    expect(createAuthenticator([])('Bearer anything')).toEqual({ kind: 'anonymous' });
  });
});

describe('pauseStateOf', () => {
  it('splits the fleet pause from per-type pauses', () => {
    const at = new Date();
    expect(pauseStateOf([{ scope: 'operation', reason: 'r', pausedBy: 'a', pausedAt: at }])).toMatchObject({ all: false, types: ['operation'] });
    expect(pauseStateOf([{ scope: '*', reason: 'r', pausedBy: 'a', pausedAt: at }])).toMatchObject({ all: true, types: [] });
  });
});

describe('createLagHistory', () => {
  const lag = (pending: number): OutboxLag => ({
    pendingCount: pending,
    oldestPendingSeconds: pending ? 1 : null,
    inFlightCount: 0,
    deadCount: 0,
    deliveredLastMinute: 0,
    relaysAlive: 1,
    lastDeliveredAt: null,
    relays: [],
    paused: [],
  });

  it('keeps at most window / interval + 1 samples, oldest dropped first', async () => {
    let n = 0;
    const history = createLagHistory(async () => lag(n++), { intervalMs: 10, windowMs: 50 });
    history.start();
    try {
      // Wait for well over capacity (6) samples, however slow the machine.
      for (let i = 0; i < 400 && n < 20; i++) await sleep(10);
    } finally {
      history.stop();
    }
    const points = history.points();
    expect(points).toHaveLength(6);
    expect(points.map((p) => p.pending)).toEqual([...points.map((p) => p.pending)].sort((a, b) => a - b));
    expect(points[0]!.pending).toBeGreaterThanOrEqual(n - 6 - 1);
  });

  it('skips a failed read without losing what it has', async () => {
    let fail = false;
    const errors: unknown[] = [];
    const history = createLagHistory(async () => {
      if (fail) throw new Error('db down');
      return lag(3);
    }, { intervalMs: 10, onError: (e) => errors.push(e) });
    history.start();
    for (let i = 0; i < 200 && history.points().length < 2; i++) await sleep(10);
    fail = true;
    for (let i = 0; i < 200 && errors.length < 2; i++) await sleep(10);
    history.stop();
    expect(history.points().length).toBeGreaterThanOrEqual(2);
    expect(errors.length).toBeGreaterThanOrEqual(2);
  });

  it('latest(): the newest sample while it is at most two intervals old, else one fresh read shared by concurrent callers; expire() forces the next read', async () => {
    let reads = 0;
    const history = createLagHistory(async () => {
      reads += 1;
      await sleep(5);
      return lag(reads);
    }, { intervalMs: 40 });
    // Not started (no timer): nothing sampled yet, so the first callers read, once between them.
    const [a, b] = await Promise.all([history.latest(), history.latest()]);
    expect(reads).toBe(1);
    expect(a).toBe(b);
    expect(a.lag.pendingCount).toBe(1);
    expect(history.points()).toHaveLength(1);
    // Fresh enough: answered from the sample.
    expect(await history.latest()).toBe(a);
    expect(reads).toBe(1);
    // Older than two intervals (no timer refreshed it): read again.
    await sleep(100);
    const stale = await history.latest();
    expect(reads).toBe(2);
    expect(stale.at).toBeGreaterThan(a.at);
    // Expired after a change: read again at once.
    history.expire();
    expect((await history.latest()).lag.pendingCount).toBe(3);
    expect(reads).toBe(3);
  });

  it('expire() during a read: that read does not become the newest sample', async () => {
    let reads = 0;
    let release: (() => void) | undefined;
    const history = createLagHistory(async () => {
      const n = ++reads;
      if (n === 1) await new Promise<void>((resolve) => (release = resolve));
      return lag(n);
    }, { intervalMs: 60_000 });
    const before = history.latest();
    await sleep(5);
    history.expire();
    const after = history.latest();
    release?.();
    expect((await before).lag.pendingCount).toBe(1);
    expect((await after).lag.pendingCount).toBe(2);
    expect((await history.latest()).lag.pendingCount).toBe(2);
    expect(reads).toBe(2);
  });
});
