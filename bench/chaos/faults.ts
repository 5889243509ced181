/**
 * The seeded fault loop. Every kind runs at least once (in a seeded order),
 * then kinds are drawn at random until the time is up; the wait between two
 * faults is drawn too. Faults run one at a time, except the burst, which runs
 * in the background while the next faults hit.
 *
 * `mongo-restart` stops the MongoDB-compatible server itself (not only the
 * network to it, as `mongo-cut` does) and starts it again: the relays' drivers
 * see refused connections, then a fresh server process. It needs a server the
 * run owns (mongoServer.ts); without one the kind is never drawn.
 */
import type pg from 'pg';
import type { TcpProxy } from '../../test/helpers/tcpProxy.ts';
import type { Fleet } from './fleet.ts';
import type { MongoServer } from './mongoServer.ts';
import type { Rng } from './rng.ts';
import type { ChaosWriter } from './writer.ts';

export const FAULT_KINDS = ['kill9', 'sigstop', 'mongo-cut', 'mongo-restart', 'pg-terminate', 'burst'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRecord {
  kind: FaultKind;
  /** ms since the fault phase started */
  atMs: number;
  durationMs: number;
  detail: string;
}

export interface FaultLoopOptions {
  rng: Rng;
  fleet: Fleet;
  proxy: TcpProxy;
  /** The server the relays reach through the proxy, when the run owns it; undefined: no mongo-restart. */
  mongoServer: MongoServer | undefined;
  writer: ChaosWriter;
  /** A connection to the chaos database not named outbox-relay* (it survives pg-terminate). */
  admin: pg.Client;
  database: string;
  leaseMs: number;
  durationMs: number;
  burstSize: number;
  /** Whether random draws may pick another burst after the first. */
  repeatBursts: boolean;
  onFault?: (record: FaultRecord) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The kinds this run can inflict: a server we do not own cannot be restarted. */
export function availableFaultKinds(mongoServer: MongoServer | undefined): readonly FaultKind[] {
  return mongoServer ? FAULT_KINDS : FAULT_KINDS.filter((k) => k !== 'mongo-restart');
}

export async function runFaultLoop(options: FaultLoopOptions): Promise<{ faults: FaultRecord[]; background: Promise<void> }> {
  const { rng, fleet, proxy, admin, mongoServer } = options;
  const kinds = availableFaultKinds(mongoServer);
  const faults: FaultRecord[] = [];
  const background: Promise<void>[] = [];
  const started = Date.now();
  const first = [...kinds];
  for (let i = first.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [first[i], first[j]] = [first[j] as FaultKind, first[i] as FaultKind];
  }
  const later: readonly FaultKind[] = options.repeatBursts ? kinds : kinds.filter((k) => k !== 'burst');
  let burstRunning = false;

  while (Date.now() - started < options.durationMs) {
    await sleep(rng.int(1000, 4000));
    if (Date.now() - started >= options.durationMs) break;
    let kind: FaultKind = first.shift() ?? rng.pick(later);
    if (kind === 'burst' && burstRunning) kind = rng.pick(kinds.filter((k) => k !== 'burst'));
    const t0 = Date.now();
    let detail = '';
    switch (kind) {
      case 'kill9': {
        const slot = rng.int(0, fleet.size - 1);
        await fleet.killAndRestart(slot);
        detail = `relay slot ${slot} killed and restarted`;
        break;
      }
      case 'sigstop': {
        const slot = rng.int(0, fleet.size - 1);
        // Longer than the lease: its claims expire and others take them; its late writes must be fenced out.
        const pauseMs = options.leaseMs + rng.int(1000, 3000);
        fleet.pause(slot);
        await sleep(pauseMs);
        fleet.resume(slot);
        detail = `relay slot ${slot} stopped for ${pauseMs} ms (lease ${options.leaseMs} ms)`;
        break;
      }
      case 'mongo-cut': {
        const cutMs = rng.int(2000, 5000);
        await proxy.cut();
        await sleep(cutMs);
        await proxy.restore();
        detail = `MongoDB proxy cut for ${cutMs} ms`;
        break;
      }
      case 'mongo-restart': {
        if (!mongoServer) throw new Error('mongo-restart drawn without a server the run owns'); // availableFaultKinds excludes it
        const oldPid = mongoServer.pid;
        const downMs = rng.int(1000, 4000);
        await mongoServer.stop();
        await sleep(downMs);
        await mongoServer.start();
        detail = `MongoDB-compatible server stopped for ${downMs} ms and restarted (pid ${oldPid} → ${mongoServer.pid})`;
        break;
      }
      case 'pg-terminate': {
        const { rows } = await admin.query<{ application_name: string }>(
          `SELECT application_name FROM pg_stat_activity
            WHERE datname = $1 AND application_name LIKE 'outbox-relay%' AND pid <> pg_backend_pid() AND pg_terminate_backend(pid)`,
          [options.database],
        );
        const listeners = rows.filter((r) => r.application_name.startsWith('outbox-relay-listen')).length;
        detail = `terminated ${rows.length} relay connections (${listeners} listeners)`;
        break;
      }
      case 'burst': {
        burstRunning = true;
        const size = options.burstSize;
        const began = Date.now();
        const record: FaultRecord = { kind, atMs: t0 - started, durationMs: 0, detail: `burst of ${size} postings` };
        faults.push(record);
        options.onFault?.(record);
        background.push(
          options.writer.burst(size).then(() => {
            record.durationMs = Date.now() - began;
            record.detail = `burst of ${size} postings done in ${record.durationMs} ms`;
            burstRunning = false;
          }),
        );
        continue;
      }
    }
    const record: FaultRecord = { kind, atMs: t0 - started, durationMs: Date.now() - t0, detail };
    faults.push(record);
    options.onFault?.(record);
  }
  return { faults, background: Promise.all(background).then(() => {}) };
}
