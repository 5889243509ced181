/** The CPU readers behind the writer benchmark's CPU-per-posting figure. */
import { describe, expect, it } from 'vitest';
import { cpuUsed, parseSchedstat, parseStatCpu, perUnit, pidCpuSeconds } from '../../../bench/support/backendCpu.ts';

describe('parseSchedstat', () => {
  it('reads the first field, nanoseconds on CPU, as seconds', () => {
    expect(parseSchedstat('1954716768 360402751 1273\n')).toBeCloseTo(1.954716768, 9);
  });
  it('refuses text that is not a count', () => {
    expect(parseSchedstat('')).toBeUndefined();
    expect(parseSchedstat('x 1 2')).toBeUndefined();
  });
});

describe('parseStatCpu', () => {
  it('adds utime and stime (ticks of 1/100 s), counting fields after the last parenthesis', () => {
    // The command name may hold spaces and ')' — a naive split by spaces would shift every field.
    const stat = '4242 (postgres: app ) x) S 1 4242 4242 0 -1 4194560 500 0 0 0 150 25 0 0 20 0 1 0 100 0 0';
    expect(parseStatCpu(stat)).toBeCloseTo(1.75, 9);
  });
  it('refuses text without a command name', () => {
    expect(parseStatCpu('garbage')).toBeUndefined();
  });
});

describe('pidCpuSeconds', () => {
  it('reads this process from /proc and sees it grow while it works', () => {
    const before = pidCpuSeconds(process.pid, 'schedstat');
    if (before === undefined) return; // no /proc (not Linux): nothing to read
    const until = performance.now() + 50;
    let x = 0;
    while (performance.now() < until) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    expect((pidCpuSeconds(process.pid, 'schedstat') as number) - before).toBeGreaterThan(0.02);
  });
  it('is undefined for a process that does not exist', () => {
    expect(pidCpuSeconds(2 ** 22 + 1, 'schedstat')).toBeUndefined();
  });
});

describe('cpuUsed and perUnit', () => {
  it('is undefined when a backend could not be read at either end', () => {
    expect(cpuUsed({ backendSeconds: undefined, clientSeconds: 1 }, { backendSeconds: 2, clientSeconds: 2 }, 10)).toBeUndefined();
  });
  it('sums the windows before dividing, so a window with more postings weighs more', () => {
    const a = cpuUsed({ backendSeconds: 10, clientSeconds: 1 }, { backendSeconds: 11, clientSeconds: 1.5 }, 1000);
    const b = { units: 3000, backendSeconds: 2, clientSeconds: 0.5 };
    const per = perUnit([a as NonNullable<typeof a>, b]);
    expect(per.units).toBe(4000);
    expect(per.backendUs).toBeCloseTo(750, 6); // 3 s / 4000, not the mean of 1000 and 667
    expect(per.clientUs).toBeCloseTo(250, 6);
    expect(per.totalUs).toBeCloseTo(1000, 6);
  });
});
