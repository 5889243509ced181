import type { OutboxLag } from '../outbox/readLag.ts';

/** One sample of the console's chart: epoch seconds and the figures it draws. */
export interface LagPoint {
  t: number;
  pending: number;
  oldestSeconds: number | null;
  dead: number;
  deliveredLastMinute: number;
}

export interface LagHistory {
  /** Oldest first, at most `windowMs / intervalMs + 1` points. */
  points(): LagPoint[];
  start(): void;
  stop(): void;
}

/**
 * The last hour of outbox_lag, in memory, for the console's chart. Bounded
 * by construction: a ring of `windowMs / intervalMs + 1` points (240 at the
 * default 15 s, about 15 KB of JSON). Each relay samples on its own, so the
 * chart starts empty after a restart; one outbox_lag read per interval per
 * relay is the cost (the view counts pending rows: cheap at this rate).
 */
export function createLagHistory(read: () => Promise<OutboxLag>, options: { intervalMs: number; windowMs?: number; onError?: (error: unknown) => void }): LagHistory {
  const windowMs = options.windowMs ?? 3_600_000;
  const capacity = Math.max(2, Math.ceil(windowMs / options.intervalMs) + 1);
  const ring: LagPoint[] = [];
  let timer: NodeJS.Timeout | undefined;
  let reading = false;

  const record = (lag: OutboxLag) => {
    ring.push({ t: Math.round(Date.now() / 1000), pending: lag.pendingCount, oldestSeconds: lag.oldestPendingSeconds, dead: lag.deadCount, deliveredLastMinute: lag.deliveredLastMinute });
    if (ring.length > capacity) ring.shift();
  };
  const sample = async () => {
    if (reading) return;
    reading = true;
    try {
      record(await read());
    } catch (error) {
      options.onError?.(error);
    } finally {
      reading = false;
    }
  };
  return {
    points: () => ring.slice(),
    start() {
      if (timer) return;
      void sample();
      timer = setInterval(() => void sample(), options.intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
