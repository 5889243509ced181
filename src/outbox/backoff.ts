/**
 * Retry delay after a failed delivery: exponential in the attempt number,
 * capped, with jitter so events that failed together (one bad batch, one
 * outage) do not come back together.
 */
export interface BackoffPolicy {
  /** Delay scale after the first failure (before jitter). */
  baseMs: number;
  /** Cap on the exponential part (before jitter). */
  maxMs: number;
  /**
   * 'equal' (default): uniform in [capped/2, capped], so a retry never comes
   * back immediately. 'full': uniform in [0, capped], the widest spread.
   */
  jitter?: 'equal' | 'full';
}

/**
 * Delay before the next attempt, given how many attempts have failed so far
 * (1 after the first failure): min(maxMs, baseMs * 2^(attempts-1)), jittered.
 * `random` returns a number in [0, 1) (injectable for tests).
 */
export function nextDelayMs(attempts: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const baseMs = Math.max(0, policy.baseMs);
  const maxMs = Math.max(0, policy.maxMs);
  const exponent = Math.max(0, Math.floor(attempts) - 1);
  // 2 ** 1100 is Infinity; min() turns that into the cap.
  const capped = Math.min(maxMs, baseMs * 2 ** exponent);
  const r = Math.min(Math.max(random(), 0), 1);
  const delay = policy.jitter === 'full' ? capped * r : capped / 2 + (capped / 2) * r;
  return Math.round(delay);
}
