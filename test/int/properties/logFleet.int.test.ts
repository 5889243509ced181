/**
 * The log's fleet property, whatever the entities, versions, commit order,
 * batch size, workers and relays, with relays crashing between batches (their
 * leases run out and another relay takes their slots over) and freezing past
 * their lease (a SIGSTOP between batches): every committed version is applied;
 * an entity's versions are applied for the first time in version order; and
 * never is one entity at the sink in two owners' batches at once (asserted,
 * where the per-row claim could only print it).
 *
 * What it does not cover: a freeze inside a sink call, after the drainer's
 * lease check (a SIGSTOP between the check and MongoDB's receipt of the
 * write). No lease can exclude that without the sink checking a fencing token;
 * the version fence keeps it harmless on MongoDB.
 *
 * Replay a failure with FC_SEED=<seed>; FC_NUM_RUNS asks for more runs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.ts';
import { SlotDrainer } from '../../../src/relay/slotDrainer.ts';
import type { MetadataSink, SinkEvent } from '../../../src/sink/metadataSink.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { appendCommitted, logRow, openTransaction, resetLog } from '../outbox/log/logFixtures.ts';

const t = useTestDatabases();
const NUM_RUNS = Math.max(12, Number(process.env.FC_NUM_RUNS ?? 0) || 0);
const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
const LEASE_MS = 400;

const scenario = fc.record({
  entities: fc.integer({ min: 1, max: 12 }),
  versions: fc.integer({ min: 1, max: 3 }),
  /** Each version's rows are written in this many transactions, the first held open until the others commit. */
  transactions: fc.integer({ min: 1, max: 3 }),
  batchSize: fc.integer({ min: 1, max: 8 }),
  concurrency: fc.integer({ min: 1, max: 3 }),
  relays: fc.integer({ min: 1, max: 3 }),
  sinkDelaysMs: fc.array(fc.integer({ min: 0, max: 15 }), { minLength: 1, maxLength: 5 }),
  /** Per relay step: crash (0), freeze past the lease (1), or work on (2+). */
  faults: fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 4, maxLength: 30 }),
});

type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never;

/** The fleet's sinks: a fenced store, and who has which entity at the sink right now. */
class FleetSink {
  readonly stored = new Map<string, number>();
  readonly firstApplies = new Map<string, number[]>();
  readonly violations: string[] = [];
  private readonly atSink = new Map<string, string>();
  private call = 0;
  private readonly delays: number[];
  constructor(delays: number[]) {
    this.delays = delays;
  }

  forOwner(owner: string): MetadataSink {
    return {
      prepare: async () => {},
      ping: async () => true,
      apply: async (events: readonly SinkEvent[]) => {
        const keys = [...new Set(events.map((e) => `${e.aggregateType}/${e.aggregateId}`))];
        for (const key of keys) {
          const holder = this.atSink.get(key);
          if (holder !== undefined && holder !== owner) this.violations.push(`${key} at the sink for ${holder} and ${owner} at once`);
          this.atSink.set(key, owner);
        }
        await new Promise((resolve) => setTimeout(resolve, this.delays[this.call++ % this.delays.length]));
        for (const e of events) {
          const key = `${e.aggregateType}/${e.aggregateId}`;
          const seen = this.firstApplies.get(key) ?? [];
          if (!seen.includes(e.version)) this.firstApplies.set(key, [...seen, e.version]);
          if ((this.stored.get(key) ?? 0) < e.version) this.stored.set(key, e.version);
        }
        for (const key of keys) if (this.atSink.get(key) === owner) this.atSink.delete(key);
        return { ok: true, outcomes: new Map(events.map((e) => [e.eventId, { status: 'applied' as const }])) };
      },
    };
  }
}

async function writeBacklog(s: Scenario): Promise<void> {
  for (let v = 1; v <= s.versions; v++) {
    const rows = Array.from({ length: s.entities }, (_, i) => logRow(`p-${i}`, v));
    const chunks = Array.from({ length: s.transactions }, (_, k) => rows.filter((_, i) => i % s.transactions === k)).filter((c) => c.length > 0);
    // The first chunk's transaction takes its xid first and commits last.
    const [held, ...rest] = chunks;
    const open = await openTransaction(t().pool);
    await open.client.query('SELECT pg_current_xact_id()');
    for (const chunk of rest) await appendCommitted(t().pool, chunk);
    await open.append(held!);
    await open.commit();
  }
}

async function runFleet(s: Scenario): Promise<FleetSink> {
  await resetLog(t().pool);
  const sink = new FleetSink(s.sinkDelaysMs);
  await writeBacklog(s);
  let generation = 0;
  const expected = s.entities * s.versions;
  const done = () => [...sink.firstApplies.values()].reduce((n, v) => n + v.length, 0) >= expected;
  const deadline = Date.now() + 20_000;
  let faultAt = 0;
  const relayLoop = async (index: number) => {
    while (!done() && Date.now() < deadline) {
      const owner = `relay-${index}-${generation++}`;
      await t().pool.query(`INSERT INTO outbox_relay (id, host, pid) VALUES ($1, 'test', $2)`, [owner, index]);
      const drainer = new SlotDrainer({ db: t().db, sink: sink.forOwner(owner), logger: silentLogger }, {
        owner,
        batchSize: s.batchSize,
        concurrency: s.concurrency,
        leaseMs: LEASE_MS,
        budget: { maxAttempts: 3, backoffBaseMs: 1, backoffMaxMs: 1 },
      });
      for (;;) {
        if (done() || Date.now() >= deadline) {
          await drainer.releaseAll();
          return;
        }
        await t().pool.query('UPDATE outbox_relay SET heartbeat_at = now() WHERE id = $1', [owner]);
        await drainer.rebalance();
        await drainer.drain();
        const fault = s.faults[faultAt++ % s.faults.length]!;
        if (fault === 0) {
          // A crash: no release, no more heartbeats; its slots come back when their leases run out.
          drainer.abandon();
          await t().pool.query('UPDATE outbox_relay SET stopped_at = now() WHERE id = $1', [owner]);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, fault === 1 ? LEASE_MS * 1.5 : 5));
      }
    }
  };
  await Promise.all(Array.from({ length: s.relays }, (_, i) => relayLoop(i)));
  return sink;
}

describe('the log, a fleet of relays with crashes and takeovers', () => {
  it('applies every version, first applies in version order, never one entity in two owners\' batches at once', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const sink = await runFleet(s);
        expect(sink.violations).toEqual([]);
        for (let i = 0; i < s.entities; i++) {
          const versions = sink.firstApplies.get(`transaction/p-${i}`) ?? [];
          expect(versions).toEqual(Array.from({ length: s.versions }, (_, v) => v + 1));
          expect(sink.stored.get(`transaction/p-${i}`)).toBe(s.versions);
        }
      }),
      { numRuns: NUM_RUNS, seed: SEED, endOnFailure: true },
    );
  });
});
