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
 * too; it is asserted there only (OUTBOX_RELAY_FENCE_UNPARTITIONED=1 or a
 * server that is not FerretDB). Forced on FerretDB v1.24.2 it fails, shrunk to:
 *   round 1: sink B writes doc 0 v1; round 2: sink A writes v3 while sink B
 *   writes v2 → the document ends at v2 (both saw v1 < theirs, both wrote).
 * Replay: OUTBOX_RELAY_FENCE_UNPARTITIONED=1 FC_SEED=-1327598753 npx vitest run
 *   --project int test/int/properties/sinkFencing.int.test.ts -t without
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

async function runProperty(steps: { doc: number; version: number; side: boolean; cut: boolean; split: boolean }[], run: number, partitioned: boolean): Promise<void> {
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
  for (const s of steps) highest.set(s.doc, Math.max(highest.get(s.doc) ?? 0, s.version));
  const docs = await t()
    .mongoDb.collection<{ _id: string }>('transaction_metadata')
    .find({ _id: { $in: [...highest.keys()].map((d) => `fence-${run}-${d}`) } })
    .toArray();
  expect(docs).toHaveLength(highest.size);
  for (const [doc, version] of highest) {
    const stored = docs.find((d) => d._id === `fence-${run}-${doc}`);
    expect(stored).toMatchObject({ version, eventId: `fence-${run}-${doc}-v${version}`, metadata: content(run, doc, version) });
  }
}

describe('sink fencing (property)', () => {
  it('two sinks, shuffled and repeated versions in random batches: every document ends at its highest version', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), async (steps) => runProperty(steps, run++, true)),
      // A time limit on top of numRuns keeps the file under a minute on a loaded 2-core machine.
      { numRuns: 120, interruptAfterTimeLimit: 45_000, seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined },
    );
  });

  // Registered only where the fence is atomic (real MongoDB): set
  // OUTBOX_RELAY_FENCE_UNPARTITIONED=1 when MONGO_URL points at MongoDB. On
  // FerretDB it fails by design of the server (see the file header), and a
  // test that is always skipped here would only pretend to prove something.
  if (process.env.OUTBOX_RELAY_FENCE_UNPARTITIONED === '1') it('without the per-document partition (atomic fence: MongoDB only)', async () => {
    let run = 100_000;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), async (steps) => runProperty(steps, run++, false)),
      { numRuns: 120, interruptAfterTimeLimit: 45_000, seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined },
    );
  }, 120_000);
});
