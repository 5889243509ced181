import type { OutboxLag } from '../outbox/readLag.ts';

/** One sample of the console's chart: epoch seconds and the figures it draws. */
export interface LagPoint {
  t: number;
  pending: number;
  oldestSeconds: number | null;
  dead: number;
  deliveredLastMinute: number;
}

/** The newest outbox_lag read in full, and when it was read. */
export interface LagSample {
  lag: OutboxLag;
  /** Epoch milliseconds of the read. */
  at: number;
}

export interface LagHistory {
  /** Oldest first, at most `windowMs / intervalMs + 1` points. */
  points(): LagPoint[];
  /**
   * The newest sample while it is at most two intervals old; otherwise (none
   * yet, sampling failing or stopped, or `expire()` called) a fresh read,
   * recorded as a sample. Concurrent callers share one read.
   */
  latest(): Promise<LagSample>;
  /** The newest sample no longer answers `latest()`: the next call reads (after a change it should show). */
  expire(): void;
  start(): void;
  stop(): void;
}

/**
 * The last hour of outbox_lag, in memory, for the console's chart. Bounded
 * by construction: a ring of `windowMs / intervalMs + 1` points (240 at the
 * default 15 s, about 15 KB of JSON). Each relay samples on its own, so the
 * chart starts empty after a restart; one outbox_lag read per interval per
 * relay is the cost.
 *
 * It also answers GET /api/lag (`latest()`): outbox_lag counts the whole
 * backlog (measured: 82 ms at 20,000 pending), and the console asks every
 * 5 s from every open tab, so the route serves the newest sample with its
 * age instead of counting again per request.
 */
export function createLagHistory(read: () => Promise<OutboxLag>, options: { intervalMs: number; windowMs?: number; onError?: (error: unknown) => void }): LagHistory {
  const windowMs = options.windowMs ?? 3_600_000;
  const capacity = Math.max(2, Math.ceil(windowMs / options.intervalMs) + 1);
  const ring: LagPoint[] = [];
  let newest: LagSample | undefined;
  let reading: Promise<LagSample> | undefined;
  // Bumped by expire(): a read begun before it must not become the newest sample.
  let generation = 0;
  let timer: NodeJS.Timeout | undefined;

  const record = (lag: OutboxLag): LagSample => {
    const at = Date.now();
    ring.push({ t: Math.round(at / 1000), pending: lag.pendingCount, oldestSeconds: lag.oldestPendingSeconds, dead: lag.deadCount, deliveredLastMinute: lag.deliveredLastMinute });
    if (ring.length > capacity) ring.shift();
    newest = { lag, at };
    return newest;
  };
  // One read at a time: a timer tick and requests during a read wait for it.
  const take = (): Promise<LagSample> => {
    if (reading) return reading;
    const begunIn = generation;
    const current: Promise<LagSample> = read()
      .then((lag) => (begunIn === generation ? record(lag) : { lag, at: Date.now() }))
      .finally(() => {
        if (reading === current) reading = undefined;
      });
    reading = current;
    return current;
  };
  const sample = () => {
    take().catch((error: unknown) => options.onError?.(error));
  };
  return {
    points: () => ring.slice(),
    async latest() {
      if (newest && Date.now() - newest.at <= 2 * options.intervalMs) return newest;
      return take();
    },
    expire() {
      newest = undefined;
      reading = undefined;
      generation += 1;
    },
    start() {
      if (timer) return;
      sample();
      timer = setInterval(sample, options.intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
