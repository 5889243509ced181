/**
 * CPU spent by a fixed set of PostgreSQL backends and by this process, for
 * figures that do not move with the neighbours' load: on a shared 2-core
 * machine wall-clock throughput measures whoever else is running, while CPU
 * seconds per unit of work stay what the work costs.
 *
 * Backends are read from /proc/<pid>/schedstat (time on CPU in nanoseconds),
 * falling back to utime + stime from /proc/<pid>/stat (10 ms ticks: too coarse
 * for a 3-second window of one backend, fine summed over many). The pool must
 * be pinned (`pinPool`): a backend the pool opens after the pids were read
 * would be missed, so `unchanged()` tells whether the set still holds.
 */
import { readFileSync } from 'node:fs';
import type pg from 'pg';

const TICKS_PER_SECOND = 100; // USER_HZ

/** Seconds on CPU from the text of /proc/<pid>/schedstat ("<ns on cpu> <ns waiting> <slices>"). */
export function parseSchedstat(text: string): number | undefined {
  const first = text.trim().split(/\s+/)[0] ?? '';
  return /^\d+$/.test(first) ? Number(first) / 1e9 : undefined;
}

/** utime + stime in seconds from the text of /proc/<pid>/stat (the command name may hold spaces and parentheses). */
export function parseStatCpu(text: string): number | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(' ');
  const [utime, stime] = [fields[11] ?? '', fields[12] ?? ''];
  return /^\d+$/.test(utime) && /^\d+$/.test(stime) ? (Number(utime) + Number(stime)) / TICKS_PER_SECOND : undefined;
}

export type CpuSource = 'schedstat' | 'stat';

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** CPU seconds of one process, undefined once it is gone (or on a system without /proc). */
export function pidCpuSeconds(pid: number, source: CpuSource): number | undefined {
  const text = readText(`/proc/${pid}/${source}`);
  return text === undefined ? undefined : source === 'schedstat' ? parseSchedstat(text) : parseStatCpu(text);
}

/** schedstat where the kernel has it (it is nanosecond-precise), else stat. */
export function cpuSourceFor(pid: number): CpuSource | undefined {
  if (pidCpuSeconds(pid, 'schedstat') !== undefined) return 'schedstat';
  if (pidCpuSeconds(pid, 'stat') !== undefined) return 'stat';
  return undefined;
}

export interface CpuReading {
  /** Sum over the pinned backends; undefined if one of them could not be read. */
  backendSeconds: number | undefined;
  /** This process, user + system (microsecond-precise). */
  clientSeconds: number;
}

export interface PinnedPool {
  pids: number[];
  source: CpuSource | undefined;
  read(): CpuReading;
  /** The pool still holds exactly the pinned backends (none closed, none opened since). */
  unchanged(): Promise<boolean>;
}

/**
 * Open every connection of `pool` (its `max`) at once, read each one's
 * pg_backend_pid() and keep them: with `idleTimeoutMillis: 0` and no more
 * than `max` clients, every statement the pool runs from then on runs on one
 * of these backends.
 */
export async function pinPool(pool: pg.Pool, size: number): Promise<PinnedPool> {
  let opened = 0;
  pool.on('connect', () => opened++);
  const backendPids = async () => {
    const clients = await Promise.all(Array.from({ length: size }, () => pool.connect()));
    try {
      return await Promise.all(clients.map(async (c) => Number((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid)));
    } finally {
      for (const c of clients) c.release();
    }
  };
  const pids = (await backendPids()).sort((a, b) => a - b);
  const openedAtPin = opened;
  // pg_backend_pid() is the server's pid in its own namespace: from outside a
  // container it names some other process, or none. Read only pids that are
  // PostgreSQL processes here.
  const visible = pids.length > 0 && pids.every((pid) => readText(`/proc/${pid}/comm`)?.trim() === 'postgres');
  const source = visible ? cpuSourceFor(pids[0] as number) : undefined;
  return {
    pids,
    source,
    read() {
      const usage = process.cpuUsage();
      let backend: number | undefined = 0;
      for (const pid of pids) {
        const seconds = source ? pidCpuSeconds(pid, source) : undefined;
        backend = seconds === undefined || backend === undefined ? undefined : backend + seconds;
      }
      return { backendSeconds: backend, clientSeconds: (usage.user + usage.system) / 1e6 };
    },
    async unchanged() {
      if (opened !== openedAtPin || pool.totalCount !== size) return false;
      const now = (await backendPids()).sort((a, b) => a - b);
      return opened === openedAtPin && now.join() === pids.join();
    },
  };
}

/** CPU used between two readings, and per unit of work in microseconds. */
export interface CpuUse {
  units: number;
  backendSeconds: number;
  clientSeconds: number;
}

export function cpuUsed(before: CpuReading, after: CpuReading, units: number): CpuUse | undefined {
  if (before.backendSeconds === undefined || after.backendSeconds === undefined) return undefined;
  return { units, backendSeconds: after.backendSeconds - before.backendSeconds, clientSeconds: after.clientSeconds - before.clientSeconds };
}

export interface CpuPerUnit {
  units: number;
  /** Microseconds of CPU per unit: PostgreSQL backends, this process, and both. */
  backendUs: number;
  clientUs: number;
  totalUs: number;
}

/** Sum of several windows, then per unit (a ratio of sums: windows with more work weigh more, as they should). */
export function perUnit(windows: readonly CpuUse[]): CpuPerUnit {
  const units = windows.reduce((s, w) => s + w.units, 0);
  const backend = windows.reduce((s, w) => s + w.backendSeconds, 0);
  const client = windows.reduce((s, w) => s + w.clientSeconds, 0);
  const us = (seconds: number) => (units > 0 ? (seconds * 1e6) / units : Number.NaN);
  return { units, backendUs: us(backend), clientUs: us(client), totalUs: us(backend + client) };
}
