/**
 * Process and machine counters from /proc (Linux): peak RSS, CPU seconds of a
 * process, CPU seconds of every `postgres` process, and machine busy time, so
 * a run can name the resource that limited it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const TICKS_PER_SECOND = 100; // USER_HZ; `getconf CLK_TCK` is 100 on Linux x86-64

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** utime + stime of one process in seconds (undefined once it is gone). */
export function processCpuSeconds(pid: number): number | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Peak resident set (VmHWM) in MiB; falls back to VmRSS. */
export function peakRssMiB(pid: number): number | undefined {
  const status = read(`/proc/${pid}/status`);
  if (!status) return undefined;
  const match = /VmHWM:\s+(\d+) kB/.exec(status) ?? /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : undefined;
}

/** Resident set now (VmRSS) in MiB. */
export function rssMiB(pid: number): number | undefined {
  const match = /VmRSS:\s+(\d+) kB/.exec(read(`/proc/${pid}/status`) ?? '');
  return match ? Number(match[1]) / 1024 : undefined;
}

/** Sum of CPU seconds of every process whose command is `name` (e.g. postgres). */
export function cpuSecondsByCommand(name: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = read(`/proc/${entry}/stat`);
    if (!stat) continue;
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (comm !== name) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  }
  return total;
}

/** Busy and total CPU seconds of the whole machine (all cores) since boot. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = (read('/proc/stat') ?? '').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((s, v) => s + v, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
}

export function ferretDbPid(): number | undefined {
  const text = read(join(process.env.OUTBOX_RELAY_CACHE ?? join(homedir(), '.cache/outbox-relay'), 'ferretdb-state/ferretdb.pid'));
  const pid = Number(text?.trim());
  return Number.isInteger(pid) && pid > 0 && read(`/proc/${pid}/stat`) ? pid : undefined;
}

export interface CpuSnapshot {
  at: number;
  machine: { busy: number; total: number };
  postgres: number;
  ferretdb: number | undefined;
  self: number;
  pids: Map<number, number | undefined>;
}

export function cpuSnapshot(pids: readonly number[] = []): CpuSnapshot {
  const ferret = ferretDbPid();
  const usage = process.cpuUsage();
  return {
    at: performance.now(),
    machine: machineCpuSeconds(),
    postgres: cpuSecondsByCommand('postgres'),
    ferretdb: ferret ? processCpuSeconds(ferret) : undefined,
    self: (usage.user + usage.system) / 1e6,
    pids: new Map(pids.map((pid) => [pid, processCpuSeconds(pid)])),
  };
}

/** Where the CPU went between two snapshots, in cores (CPU seconds per wall second). */
export interface CpuBreakdown {
  wallSeconds: number;
  machineBusyCores: number;
  machineCores: number;
  postgresCores: number;
  ferretdbCores: number | null;
  benchProcessCores: number;
  relayCores: number;
  relayCpuSeconds: number;
}

export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): CpuBreakdown {
  const wall = (b.at - a.at) / 1000;
  let relay = 0;
  for (const [pid, start] of a.pids) {
    const end = b.pids.get(pid);
    if (start !== undefined && end !== undefined) relay += end - start;
  }
  const per = (x: number) => (wall > 0 ? x / wall : 0);
  return {
    wallSeconds: wall,
    machineBusyCores: per(b.machine.busy - a.machine.busy),
    machineCores: per(b.machine.total - a.machine.total),
    postgresCores: per(b.postgres - a.postgres),
    ferretdbCores: a.ferretdb !== undefined && b.ferretdb !== undefined ? per(b.ferretdb - a.ferretdb) : null,
    benchProcessCores: per(b.self - a.self),
    relayCores: per(relay),
    relayCpuSeconds: relay,
  };
}
