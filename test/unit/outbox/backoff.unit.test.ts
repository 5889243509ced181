import { describe, expect, it } from 'vitest';
import { nextDelayMs } from '../../../src/outbox/backoff.ts';

const policy = { baseMs: 1_000, maxMs: 60_000 };

describe('nextDelayMs', () => {
  it('doubles with each failed attempt (upper bound of the jitter range)', () => {
    const top = (attempts: number) => nextDelayMs(attempts, policy, () => 0.999_999_999);
    expect([1, 2, 3, 4, 5].map(top)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
  });

  it('is capped at maxMs, also for absurd attempt counts', () => {
    expect(nextDelayMs(7, policy, () => 0.999_999_999)).toBe(60_000);
    expect(nextDelayMs(30, policy, () => 0.999_999_999)).toBe(60_000);
    expect(nextDelayMs(5_000, policy, () => 0.999_999_999)).toBe(60_000);
  });

  it('equal jitter (default) stays within [capped/2, capped]', () => {
    expect(nextDelayMs(3, policy, () => 0)).toBe(2_000);
    expect(nextDelayMs(3, policy, () => 0.5)).toBe(3_000);
    for (let i = 0; i < 2_000; i++) {
      const attempts = 1 + (i % 12);
      const capped = Math.min(60_000, 1_000 * 2 ** (attempts - 1));
      const d = nextDelayMs(attempts, policy);
      expect(d).toBeGreaterThanOrEqual(capped / 2);
      expect(d).toBeLessThanOrEqual(capped);
    }
  });

  it('full jitter stays within [0, capped]', () => {
    const full = { ...policy, jitter: 'full' as const };
    expect(nextDelayMs(4, full, () => 0)).toBe(0);
    expect(nextDelayMs(4, full, () => 0.5)).toBe(4_000);
    for (let i = 0; i < 2_000; i++) {
      const d = nextDelayMs(10, full);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(60_000);
    }
  });

  it('jitter actually spreads retries (not a constant)', () => {
    const seen = new Set(Array.from({ length: 200 }, () => nextDelayMs(6, policy)));
    expect(seen.size).toBeGreaterThan(50);
  });

  it('treats attempts below 1 like the first failure', () => {
    expect(nextDelayMs(0, policy, () => 0.999_999_999)).toBe(1_000);
  });
});
