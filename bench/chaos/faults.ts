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
 *
 * `pg-restart` restarts PostgreSQL itself when the run owns its cluster
 * (scripts/ownPostgres.ts: fast shutdown, down for 1–3 s, start on the same
 * port). When it cannot own one, the closest fault it can own: PgBouncer's
 * `KILL <db>` (every client and server connection of the database dropped,
 * new ones held), pg_terminate_backend of every relay connection, then
 * `RESUME <db>`. Without either the kind is never drawn.
 */
import pg from 'pg';
import type { OwnPostgres } from '../../scripts/ownPostgres.ts';
import type { PgBouncer } from '../../scripts/pgbouncer.ts';
import type { TcpProxy } from '../../test/helpers/tcpProxy.ts';
import type { Fleet } from './fleet.ts';
import type { MongoServer } from './mongoServer.ts';
import type { Rng } from './rng.ts';
import type { ChaosWriter } from './writer.ts';

export const FAULT_KINDS = ['kill9', 'sigstop', 'mongo-cut', 'mongo-restart', 'pg-terminate', 'pg-restart', 'burst'] as const;
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
  /** URL of a database on the chaos server for admin statements (a fresh connection each time: pg-restart cuts every connection). */
  adminUrl: string;
  /** The PostgreSQL cluster the run owns (pg-restart restarts it), if any. */
  ownPostgres: OwnPostgres | undefined;
  /** The PgBouncer the relays go through, if any (pg-restart's fallback). */
  pgbouncer: PgBouncer | undefined;
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
export function availableFaultKinds(owned: { mongoServer: MongoServer | undefined; ownPostgres: OwnPostgres | undefined; pgbouncer: PgBouncer | undefined }): readonly FaultKind[] {
  return FAULT_KINDS.filter((k) => (k !== 'mongo-restart' || owned.mongoServer) && (k !== 'pg-restart' || owned.ownPostgres || owned.pgbouncer));
}

async function adminQuery<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ connectionString: url, application_name: 'chaos-faults' });
  client.on('error', () => {});
  await client.connect();
  try {
    return await client.query<R>(text, values);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Relay connections to the chaos database, terminated; how many (and how many were listeners). */
async function terminateRelayConnections(adminUrl: string, database: string): Promise<{ all: number; listeners: number }> {
  const { rows } = await adminQuery<{ application_name: string }>(
    adminUrl,
    `SELECT application_name FROM pg_stat_activity
      WHERE datname = $1 AND application_name LIKE 'outbox-relay%' AND pid <> pg_backend_pid() AND pg_terminate_backend(pid)`,
    [database],
  );
  return { all: rows.length, listeners: rows.filter((r) => r.application_name.startsWith('outbox-relay-listen')).length };
}

export async function runFaultLoop(options: FaultLoopOptions): Promise<{ faults: FaultRecord[]; background: Promise<void> }> {
  const { rng, fleet, proxy, mongoServer } = options;
  const kinds = availableFaultKinds(options);
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
        const terminated = await terminateRelayConnections(options.adminUrl, options.database);
        detail = `terminated ${terminated.all} relay connections (${terminated.listeners} listeners)`;
        break;
      }
      case 'pg-restart': {
        if (options.ownPostgres) {
          const downMs = rng.int(1000, 3000);
          await options.ownPostgres.restart({ downMs });
          detail = `PostgreSQL (the run's own cluster, :${options.ownPostgres.port}) shut down fast, down for ${downMs} ms, restarted`;
        } else if (options.pgbouncer) {
          // Only the pooled sessions go through PgBouncer; a relay's LISTEN is direct, so terminate those too.
          await options.pgbouncer.admin(`KILL ${options.database}`);
          const terminated = await terminateRelayConnections(options.adminUrl, options.database);
          await sleep(rng.int(500, 1500));
          await options.pgbouncer.admin(`RESUME ${options.database}`);
          detail = `PgBouncer KILL/RESUME of ${options.database} and ${terminated.all} relay connections terminated (no cluster of our own to restart)`;
        } else {
          throw new Error('pg-restart drawn without a cluster or PgBouncer the run owns'); // availableFaultKinds excludes it
        }
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
