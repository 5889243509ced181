/**
 * Property: random metadata versions for random documents, shuffled,
 * duplicated and split into random batches across two sinks on two
 * MongoClients writing concurrently → every document ends at its highest
 * version with that version's content (and event id).
 *
 * FerretDB's fenced update is not atomic (check, then overwrite by _id): two
 * sinks writing *different versions of the same document at the same
 * instant* can lose the newer one. The relay never does that — one entity is
 * claimed by one relay at a time — so this property keeps the same shape:
 * the sequence is cut into rounds, and in each round the documents are split
 * between the two sinks (the side of a document's first event in that round
 * decides). Both sinks run concurrently in every round, every document is
 * written by both sinks over the run, in any order and with repeats, but a
 * single document is never written by both at the same instant. On real
 * MongoDB the fence is atomic and the stronger property (no partition) holds
 * too. The unpartitioned test always runs: where the fence is atomic
 * (MongoDB, or OUTBOX_RELAY_FENCE_UNPARTITIONED=1) it asserts the highest
 * version; on FerretDB it says so in the test report (an annotation and a
 * warning) and asserts what does hold there: every document ends whole — the
 * version, event id and content of one event written for it, nothing torn or
 * lost. Forced on FerretDB v1.24.2 the strong form fails, shrunk to:
 *   round 1: sink B writes doc 0 v1; round 2: sink A writes v3 while sink B
 *   writes v2 → the document ends at v2 (both saw v1 < theirs, both wrote).
 * Replay: OUTBOX_RELAY_FENCE_UNPARTITIONED=1 FC_SEED=-1327598753 npx vitest run
 *   --project int test/int/properties/sinkFencing.int.test.ts -t without
 *
 * Each property runs MIN_RUNS times whatever the machine's speed (no time
 * limit that would end it early and still pass); FC_NUM_RUNS asks for more.
 * Each run's documents are deleted after it is checked, so later runs are not
 * slower than the first ones.
 */
import fc from 'fast-check';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetadataSink, SinkEvent } from '../../../src/sink/metadataSink.ts';
import { createMongoSink } from '../../../src/sink/mongoSink.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';

const t = useTestDatabases();
let secondClient: MongoClient;
let sinks: [MetadataSink, MetadataSink];

beforeAll(async () => {
  secondClient = new MongoClient(t().mongoUrl, { serverSelectionTimeoutMS: 10_000 });
  await secondClient.connect();
  sinks = [createMongoSink(t().mongoDb, { retries: 2 }), createMongoSink(secondClient.db(t().mongoDbName), { retries: 2 })];
  await sinks[0].prepare(['transaction']);
});
afterAll(async () => {
  await secondClient?.close();
});

const step = fc.record({
  doc: fc.nat({ max: 7 }),
  version: fc.integer({ min: 1, max: 8 }),
  /** which sink would take this document in the current round */
  side: fc.boolean(),
  /** end the round after this event */
  cut: fc.boolean(),
  /** end the current batch of this side (a round may have several batches per sink) */
  split: fc.boolean(),
});

const content = (run: number, doc: number, version: number) => ({ doc, version, body: `run ${run} doc ${doc} v${version}`, nested: { list: Array.from({ length: version }, (_, i) => i) } });
const eventOf = (run: number, doc: number, version: number): SinkEvent => ({
  eventId: `fence-${run}-${doc}-v${version}`,
  aggregateType: 'transaction',
  aggregateId: `fence-${run}-${doc}`,
  version,
  payload: { metadata: content(run, doc, version) },
});

async function applyAll(sink: MetadataSink, batches: SinkEvent[][]): Promise<void> {
  for (const batch of batches) {
    if (batch.length === 0) continue;
    const result = await sink.apply(batch);
    if (!result.ok) throw result.error;
    for (const e of batch) expect(result.outcomes.get(e.eventId)).toMatchObject({ status: 'applied' });
  }
}

const MIN_RUNS = 200;
const NUM_RUNS = Math.max(MIN_RUNS, Number(process.env.FC_NUM_RUNS ?? 0) || 0);
const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;

/** Whether a fenced update is atomic on this server, and which server it is. */
async function fenceIsAtomic(): Promise<{ atomic: boolean; server: string }> {
  const build = (await t().mongoDb.admin().command({ buildInfo: 1 })) as { version?: string; ferretdbVersion?: string };
  const server = build.ferretdbVersion !== undefined ? `FerretDB ${build.ferretdbVersion}` : `MongoDB ${build.version ?? '?'}`;
  if (process.env.OUTBOX_RELAY_FENCE_UNPARTITIONED === '1') return { atomic: true, server: `${server} (forced by OUTBOX_RELAY_FENCE_UNPARTITIONED=1)` };
  return { atomic: build.ferretdbVersion === undefined, server };
}

/**
 * `highest`: every document ends at its highest version. `whole`: every
 * document ends as exactly one event written for it (what holds on a server
 * whose fence is not atomic).
 */
type Expectation = 'highest' | 'whole';

async function runProperty(steps: { doc: number; version: number; side: boolean; cut: boolean; split: boolean }[], run: number, partitioned: boolean, expectation: Expectation = 'highest'): Promise<void> {
  let round: typeof steps = [];
  const flush = async () => {
    const owner = new Map<number, 0 | 1>();
    const batches: [SinkEvent[][], SinkEvent[][]] = [[[]], [[]]];
    for (const s of round) {
      const side: 0 | 1 = partitioned ? (owner.get(s.doc) ?? (s.side ? 0 : 1)) : s.side ? 0 : 1;
      owner.set(s.doc, side);
      const list = batches[side];
      (list[list.length - 1] as SinkEvent[]).push(eventOf(run, s.doc, s.version));
      if (s.split) list.push([]);
    }
    await Promise.all([applyAll(sinks[0], batches[0]), applyAll(sinks[1], batches[1])]);
    round = [];
  };
  for (const s of steps) {
    round.push(s);
    if (s.cut) await flush();
  }
  await flush();

  const highest = new Map<number, number>();
  const written = new Map<number, Set<number>>();
  for (const s of steps) {
    highest.set(s.doc, Math.max(highest.get(s.doc) ?? 0, s.version));
    written.set(s.doc, (written.get(s.doc) ?? new Set()).add(s.version));
  }
  const collection = t().mongoDb.collection<{ _id: string; version: number }>('transaction_metadata');
  const ids = [...highest.keys()].map((d) => `fence-${run}-${d}`);
  const docs = await collection.find({ _id: { $in: ids } }).toArray();
  expect(docs).toHaveLength(highest.size);
  for (const [doc, version] of highest) {
    const stored = docs.find((d) => d._id === `fence-${run}-${doc}`);
    if (expectation === 'highest') {
      expect(stored).toMatchObject({ version, eventId: `fence-${run}-${doc}-v${version}`, metadata: content(run, doc, version) });
    } else {
      const got = stored?.version ?? -1;
      expect([...(written.get(doc) ?? [])], `doc ${doc} ended at a version never written for it`).toContain(got);
      expect(stored).toMatchObject({ eventId: `fence-${run}-${doc}-v${got}`, metadata: content(run, doc, got) });
    }
  }
  await collection.deleteMany({ _id: { $in: ids } });
}

describe('sink fencing (property)', () => {
  it('two sinks, shuffled and repeated versions in random batches: every document ends at its highest version', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), async (steps) => runProperty(steps, run++, true)),
      { numRuns: NUM_RUNS, seed: SEED },
    );
    expect(run).toBeGreaterThanOrEqual(NUM_RUNS);
  }, 600_000);

  it('without the per-document partition: every document ends whole, and at its highest version where the fence is atomic (MongoDB)', async ({ annotate }) => {
    const { atomic, server } = await fenceIsAtomic();
    if (!atomic) {
      const note = `${server}: the fenced update is not atomic, so "highest version" does not apply without the partition; asserting only that every document ends whole (one event written for it). Run against MongoDB for the strong form.`;
      console.warn(`sinkFencing: ${note}`);
      await annotate(note, 'notice');
    }
    let run = 100_000;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), async (steps) => runProperty(steps, run++, false, atomic ? 'highest' : 'whole')),
      { numRuns: NUM_RUNS, seed: SEED },
    );
    expect(run - 100_000).toBeGreaterThanOrEqual(NUM_RUNS);
  }, 600_000);
});
