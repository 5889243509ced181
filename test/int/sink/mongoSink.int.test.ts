import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOutcome, MetadataSink, SinkEvent } from '../../../src/sink/metadataSink.ts';
import { createMongoSink } from '../../../src/sink/mongoSink.ts';
import type { MetadataDocument } from '../../../src/sink/writeFencedUpserts.ts';
import type { Metadata } from '../../../src/types.ts';
import { startTcpProxy } from '../../helpers/tcpProxy.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();

const event = (aggregateId: string, version: number, metadata: Metadata = { aggregateId, version }, aggregateType = 'transaction'): SinkEvent => ({
  eventId: `${aggregateType}/${aggregateId}/v${version}`,
  aggregateType,
  aggregateId,
  version,
  payload: { metadata },
});

const docs = (type = 'transaction') => t().mongoDb.collection<MetadataDocument>(`${type}_metadata`);

async function applyOk(sink: MetadataSink, events: SinkEvent[]): Promise<Map<string, EventOutcome>> {
  const result = await sink.apply(events);
  if (!result.ok) throw result.error;
  return result.outcomes;
}

describe('prepare', () => {
  it('creates the collections and their updatedAt index, and can run again', async () => {
    const sink = createMongoSink(t().mongoDb);
    await sink.prepare(['transaction', 'operation']);
    await sink.prepare(['transaction', 'operation']);
    const names = (await t().mongoDb.listCollections().toArray()).map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['transaction_metadata', 'operation_metadata']));
    const indexes = await docs('operation').indexes();
    expect(indexes.map((i) => i.key)).toContainEqual({ updatedAt: 1 });
  });
});

describe('fencing', () => {
  it('ends at the highest version whatever the order and repetition, and a replay changes nothing', async () => {
    const sink = createMongoSink(t().mongoDb);
    const v = [1, 2, 3].map((n) => event('fence-1', n, { note: `version ${n}`, n }));
    await applyOk(sink, [v[2]!]);
    const first = await docs().findOne({ _id: 'fence-1' });
    expect(first).toMatchObject({ version: 3, eventId: v[2]!.eventId, metadata: { note: 'version 3', n: 3 } });

    for (const batch of [[v[2]!], [v[0]!], [v[0]!], [v[1]!], [v[1]!], [v[2]!]]) {
      const outcomes = await applyOk(sink, batch);
      // A replay or an older version is a duplicate: applied, and said so (traces show it).
      expect(outcomes.get(batch[0]!.eventId)).toEqual({ status: 'applied', alreadyStored: true });
    }
    const after = await docs().findOne({ _id: 'fence-1' });
    expect(after).toEqual(first);
    expect(after?.updatedAt.getTime()).toBe(first?.updatedAt.getTime());
  });

  it('moves a document forward when a newer version arrives', async () => {
    const sink = createMongoSink(t().mongoDb);
    await applyOk(sink, [event('fence-2', 1)]);
    await applyOk(sink, [event('fence-2', 4, { latest: true })]);
    expect(await docs().findOne({ _id: 'fence-2' })).toMatchObject({ version: 4, metadata: { latest: true }, eventId: 'transaction/fence-2/v4' });
  });
});

describe('a batch mixing new, stale, equal and newer versions', () => {
  it('applies every event and leaves each document at its highest version', async () => {
    const sink = createMongoSink(t().mongoDb);
    await applyOk(sink, [event('mix-a', 5), event('mix-b', 2), event('mix-c', 1)]);
    // Stale and equal versions first: each answers a duplicate key, which stops a
    // FerretDB bulk write and hides whatever it ran before the error.
    const batch = [
      event('mix-c', 1), // equal → duplicate key
      event('mix-new-1', 1), // new document
      event('mix-a', 3), // stale → duplicate key
      event('mix-b', 4), // newer → update
      event('mix-new-2', 2),
      event('mix-a', 2, { a: 'older still' }, 'operation'), // another collection, new document
      event('mix-new-3', 7),
    ];
    const outcomes = await applyOk(sink, batch);
    expect(outcomes.size).toBe(batch.length);
    for (const e of batch) expect(outcomes.get(e.eventId), e.eventId).toMatchObject({ status: 'applied' });

    const stored = new Map((await docs().find().toArray()).map((d) => [d._id, d.version]));
    expect(Object.fromEntries(stored)).toMatchObject({ 'mix-a': 5, 'mix-b': 4, 'mix-c': 1, 'mix-new-1': 1, 'mix-new-2': 2, 'mix-new-3': 7 });
    expect(await docs('operation').findOne({ _id: 'mix-a' })).toMatchObject({ version: 2, metadata: { a: 'older still' } });
  });

  it('applies a whole batch that only replays delivered events', async () => {
    const sink = createMongoSink(t().mongoDb);
    const batch = Array.from({ length: 20 }, (_, i) => event(`replay-${i}`, 1));
    await applyOk(sink, batch);
    const outcomes = await applyOk(sink, batch);
    expect([...outcomes.values()]).toEqual(batch.map(() => ({ status: 'applied' })));
    expect(await docs().countDocuments({ _id: { $regex: '^replay-' } })).toBe(20);
  });
});

describe('collapse inside a batch', () => {
  let monitored: MongoClient;
  const updates: CommandStartedEvent[] = [];
  beforeAll(async () => {
    monitored = new MongoClient(t().mongoUrl, { monitorCommands: true });
    monitored.on('commandStarted', (e) => {
      if (e.commandName === 'update') updates.push(e);
    });
    await monitored.connect();
  });
  afterAll(async () => {
    await monitored.close();
  });

  it('writes only the newest event of a document, in one statement, and gives every event its outcome', async () => {
    const sink = createMongoSink(monitored.db(t().mongoDbName));
    const batch = [event('collapse-1', 2), event('collapse-1', 5, { newest: true }), event('collapse-1', 1), event('collapse-2', 1)];
    updates.length = 0;
    const outcomes = await applyOk(sink, batch);
    expect(updates).toHaveLength(1);
    const statements = updates[0]!.command.updates as { q: { _id: string; version: { $lt: number } } }[];
    expect(statements.map((s) => [s.q._id, s.q.version.$lt])).toEqual([
      ['collapse-1', 5],
      ['collapse-2', 1],
    ]);
    expect(updates[0]!.command.ordered).toBe(false);
    expect(updates[0]!.command.writeConcern).toMatchObject({ w: 'majority' });
    for (const e of batch) expect(outcomes.get(e.eventId)).toMatchObject({ status: 'applied' });
    expect(await docs().findOne({ _id: 'collapse-1' })).toMatchObject({ version: 5, metadata: { newest: true } });
  });
});

describe('poison events', () => {
  it('fails an event whose metadata has a $-prefixed key with the server message, and applies the rest', async () => {
    const sink = createMongoSink(t().mongoDb);
    // The poison sits between good events: on FerretDB the error is reported at index 0
    // and the event before it was run silently, so it must still come back applied.
    const batch = [event('poison-ok-1', 1), event('poison-bad', 1, { $bad: 1 }), event('poison-ok-2', 1), event('poison-ok-3', 3)];
    const outcomes = await applyOk(sink, batch);
    const bad = outcomes.get('transaction/poison-bad/v1');
    expect(bad?.status).toBe('failed');
    expect(bad?.status === 'failed' && bad.error).toMatch(/\$bad/);
    for (const id of ['poison-ok-1', 'poison-ok-2', 'poison-ok-3']) {
      expect(outcomes.get(batch.find((e) => e.aggregateId === id)!.eventId), id).toMatchObject({ status: 'applied' });
      expect(await docs().findOne({ _id: id }), id).not.toBeNull();
    }
    expect(await docs().findOne({ _id: 'poison-bad' })).toBeNull();
  });

  it('fails an oversized document before sending it, and applies the rest of the batch', async () => {
    const sink = createMongoSink(t().mongoDb);
    const huge = { blob: 'x'.repeat(17 * 1024 * 1024) };
    const batch = [event('big-ok-1', 1), event('big', 1, huge), event('big-ok-2', 1)];
    const outcomes = await applyOk(sink, batch);
    const big = outcomes.get('transaction/big/v1');
    expect(big?.status).toBe('failed');
    expect(big?.status === 'failed' && big.error).toMatch(/bytes, over the \d+-byte limit/);
    expect(outcomes.get('transaction/big-ok-1/v1')).toMatchObject({ status: 'applied' });
    expect(outcomes.get('transaction/big-ok-2/v1')).toMatchObject({ status: 'applied' });
    expect(await docs().countDocuments({ _id: { $in: ['big-ok-1', 'big-ok-2'] } })).toBe(2);
  });

  it('gives the older events of a collapsed poison document the same failure', async () => {
    const sink = createMongoSink(t().mongoDb);
    const outcomes = await applyOk(sink, [event('poison-collapsed', 1), event('poison-collapsed', 2, { 'a.b': 1 })]);
    expect(outcomes.get('transaction/poison-collapsed/v1')?.status).toBe('failed');
    expect(outcomes.get('transaction/poison-collapsed/v2')?.status).toBe('failed');
  });
});

describe('an unreachable sink', () => {
  let closed: MongoClient;
  beforeAll(() => {
    closed = new MongoClient('mongodb://127.0.0.1:1', { serverSelectionTimeoutMS: 300, connectTimeoutMS: 300 });
  });
  afterAll(async () => {
    await closed.close();
  });

  // The bound that matters is the driver's 30 s default server selection per
  // attempt: these options must take effect. Timing bounds sit far from what
  // the options give (well under a second) so a loaded machine never hits them.
  it('answers { ok: false } after bounded retries, well before the driver\'s 30 s default would', async () => {
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    const sink = createMongoSink(closed.db('nowhere'), { retries: 2, minTimeoutMs: 50, maxTimeoutMs: 100, logger });
    const started = Date.now();
    const result = await sink.apply([event('unreachable', 1)]);
    const elapsed = Date.now() - started;
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.message).toMatch(/ECONNREFUSED|Server selection/i);
    // One warning per failed attempt: the first try and two retries, then it gives up.
    expect(warnings.filter((w) => w.includes('sink write failed'))).toHaveLength(3);
    expect(elapsed).toBeLessThan(25_000);
  });

  it('stops retrying when the signal aborts', async () => {
    // Aborted at the first failed attempt, of 51 allowed: it must not try again.
    const controller = new AbortController();
    let attempts = 0;
    const logger = pino({ level: 'warn' }, { write: (line: string) => {
      if (!line.includes('sink write failed')) return;
      attempts++;
      controller.abort();
    } });
    const sink = createMongoSink(closed.db('nowhere'), { retries: 50, minTimeoutMs: 100, maxTimeoutMs: 100, logger });
    const result = await sink.apply([event('unreachable', 1)], { signal: controller.signal });
    expect(result.ok).toBe(false);
    expect(controller.signal.aborted).toBe(true);
    expect(attempts).toBe(1);
  });

  it('reports not ready from ping within its own timeout, not the driver\'s 30 s', async () => {
    const sink = createMongoSink(closed.db('nowhere'), { pingTimeoutMs: 500 });
    const started = Date.now();
    expect(await sink.ping()).toBe(false);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('reports ready from ping when the server answers', async () => {
    expect(await createMongoSink(t().mongoDb).ping()).toBe(true);
  });
});

describe('MongoDB coming back', () => {
  const viaProxy = async (logger?: Logger) => {
    const target = new URL(t().mongoUrl);
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 27017));
    const client = new MongoClient(`mongodb://127.0.0.1:${proxy.port}`, { serverSelectionTimeoutMS: 300, connectTimeoutMS: 300 });
    return { proxy, client, sink: createMongoSink(client.db(t().mongoDbName), { retries: 20, minTimeoutMs: 50, maxTimeoutMs: 200, ...(logger ? { logger } : {}) }) };
  };

  it('recovers a client whose very first connection failed (the driver leaves it closed until connect())', async () => {
    const { proxy, client } = await viaProxy();
    try {
      await proxy.cut();
      const sink = createMongoSink(client.db(t().mongoDbName), { retries: 1, minTimeoutMs: 50, maxTimeoutMs: 50 });
      expect((await sink.apply([event('first-connect', 1)])).ok).toBe(false);
      expect(await sink.ping()).toBe(false);
      await proxy.restore();
      const result = await sink.apply([event('first-connect', 1)]);
      expect(result.ok).toBe(true);
      expect(await sink.ping()).toBe(true);
      expect(await docs().findOne({ _id: 'first-connect' })).toMatchObject({ version: 1 });
    } finally {
      await client.close();
      await proxy.close();
    }
  });

  it('retries through a short outage and applies the batch once MongoDB answers again', async () => {
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    const { proxy, client, sink } = await viaProxy(logger);
    try {
      await applyOk(sink, [event('outage-1', 1)]); // connected before the outage
      await proxy.cut();
      const pending = sink.apply([event('outage-1', 2), event('outage-2', 1)]);
      // Back only once the outage was met: two failed attempts, so it retried through it.
      await waitFor(() => warnings.filter((w) => w.includes('sink write failed')).length >= 2, { message: 'the sink failing during the outage' });
      await proxy.restore();
      const result = await pending;
      expect(result.ok).toBe(true);
      expect(result.ok && [...result.outcomes.values()]).toMatchObject([{ status: 'applied' }, { status: 'applied' }]);
      expect(await docs().findOne({ _id: 'outage-1' })).toMatchObject({ version: 2 });
      expect(await docs().findOne({ _id: 'outage-2' })).toMatchObject({ version: 1 });
    } finally {
      await client.close();
      await proxy.close();
    }
  });
});

describe('two sinks writing concurrently', () => {
  const DOCS = 50;
  /** Every version of 50 documents (1 to 6 each), about half delivered twice. */
  function raceEvents(prefix: string): { highest: Map<string, number>; all: SinkEvent[] } {
    const highest = new Map<string, number>();
    const all: SinkEvent[] = [];
    for (let d = 0; d < DOCS; d++) {
      const id = `${prefix}-${d}`;
      const top = 1 + Math.floor(Math.random() * 6);
      highest.set(id, top);
      for (let v = 1; v <= top; v++) {
        const e = event(id, v, { id, v, content: `doc ${id} at ${v}` });
        all.push(e);
        if (Math.random() < 0.5) all.push(e); // duplicated delivery
      }
    }
    return { highest, all };
  }

  /** Each sink applies its stream in random batches (1–15), both at once; every outcome must be "applied". */
  async function race(sinks: MetadataSink[], streams: SinkEvent[][]): Promise<void> {
    const outcomes = await Promise.all(
      streams.map(async (stream, s) => {
        const results: EventOutcome[] = [];
        for (let i = 0; i < stream.length; ) {
          const size = 1 + Math.floor(Math.random() * 15);
          const batch = stream.slice(i, i + size);
          i += size;
          const got = await applyOk(sinks[s]!, batch);
          for (const e of batch) results.push(got.get(e.eventId)!);
        }
        return results;
      }),
    );
    const flat = outcomes.flat();
    expect(flat).toHaveLength(streams.reduce((n, stream) => n + stream.length, 0));
    expect(flat.filter((o) => o?.status !== 'applied')).toEqual([]);
  }

  async function stored(prefix: string): Promise<MetadataDocument[]> {
    return docs().find({ _id: { $regex: `^${prefix}-` } }).toArray();
  }

  const expectAtVersion = (doc: MetadataDocument, version: number) => {
    expect(doc.version, doc._id).toBe(version);
    expect(doc.metadata, doc._id).toEqual({ id: doc._id, v: version, content: `doc ${doc._id} at ${version}` });
    expect(doc.eventId, doc._id).toBe(`transaction/${doc._id}/v${version}`);
  };

  async function withTwoSinks<T>(fn: (sinks: MetadataSink[]) => Promise<T>): Promise<T> {
    const clients = [new MongoClient(t().mongoUrl), new MongoClient(t().mongoUrl)];
    try {
      return await fn(clients.map((c) => createMongoSink(c.db(t().mongoDbName))));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  }

  // How the relay writes: one document is claimed by one relay at a time, so
  // two sinks never write the same document at the same instant. Holds on
  // every server, FerretDB's non-atomic fence included.
  it('one writer per document at a time, in rounds: every document ends at its highest version with that version’s content', async () => {
    const { highest, all } = raceEvents('race-rounds');
    const ROUNDS = 4;
    const rounds = Array.from({ length: ROUNDS }, () => [[], []] as SinkEvent[][]);
    const owner = Array.from({ length: ROUNDS }, () => new Map<string, number>());
    for (const e of shuffle([...all, ...all])) {
      const r = Math.floor(Math.random() * ROUNDS);
      const side = owner[r]!.get(e.aggregateId) ?? (Math.random() < 0.5 ? 0 : 1);
      owner[r]!.set(e.aggregateId, side);
      rounds[r]![side]!.push(e);
    }
    // Over the run most documents are written by both sinks, only never at once.
    const bothSides = [...highest.keys()].filter((id) => new Set(owner.map((o) => o.get(id)).filter((side) => side !== undefined)).size === 2);
    expect(bothSides.length).toBeGreaterThan(DOCS / 2);
    await withTwoSinks(async (sinks) => {
      for (const streams of rounds) await race(sinks, streams);
    });
    const found = await stored('race-rounds');
    expect(found).toHaveLength(DOCS);
    for (const doc of found) expectAtVersion(doc, highest.get(doc._id)!);
  });

  // Both sinks may write different versions of one document at the same
  // instant. An atomic fence (MongoDB) keeps the highest; FerretDB 1.24's
  // fence is check-then-overwrite across clients (docs/design.md, "Design notes
  // and FerretDB") and can keep an older one. What holds there is asserted there,
  // and the test says which case it ran.
  it('unpartitioned: highest version on an atomic fence (MongoDB); on FerretDB coherent documents, and a replay of the newest events restores the highest', async ({ annotate }) => {
    const { highest, all } = raceEvents('race-free');
    await withTwoSinks((sinks) => race(sinks, [shuffle([...all]), shuffle([...all])]));
    const found = await stored('race-free');
    expect(found).toHaveLength(DOCS);
    const ferretDb = await ferretDbVersion();
    if (ferretDb === undefined) {
      for (const doc of found) expectAtVersion(doc, highest.get(doc._id)!);
      await annotate('atomic fence (MongoDB): every document at its highest version asserted', 'notice');
      return;
    }
    // Every document is one whole version of itself, never a mix of two writes.
    for (const doc of found) expectAtVersion(doc, doc.version);
    const behind = found.filter((doc) => doc.version < highest.get(doc._id)!).map((doc) => doc._id);
    const note = `FerretDB ${ferretDb}: the fence is not atomic across clients, so "highest version" is asserted only on MongoDB; ${behind.length} of ${DOCS} documents ended below their highest version (lost to the race) and were restored by a replay`;
    console.info(note);
    await annotate(note, 'notice');
    // What the relay relies on there: a later delivery (or reconcile --repair) of the newest version wins.
    const newest = [...highest].map(([id, top]) => event(id, top, { id, v: top, content: `doc ${id} at ${top}` }));
    await applyOk(createMongoSink(t().mongoDb), newest);
    for (const doc of await stored('race-free')) expectAtVersion(doc, highest.get(doc._id)!);
  });
});

/** The FerretDB version answering MONGO_URL, undefined on MongoDB (buildInfo carries `ferretdbVersion` only there). */
async function ferretDbVersion(): Promise<string | undefined> {
  const info = await t().mongoDb.admin().command({ buildInfo: 1 });
  return typeof info.ferretdbVersion === 'string' ? info.ferretdbVersion : undefined;
}

describe('racing inserts of a new document', () => {
  it('ends at the newer version when the older one wins the insert (a duplicate key is checked, not trusted)', async () => {
    // An upsert that finds no document and then loses the insert to a writer of an
    // OLDER version answers E11000 too; taken as "applied", the newer version is lost.
    // Two writers per document only: with three or more, FerretDB 1.24's non-atomic
    // update (query, then UPDATE by _id) can also lose updates, which no client fixes.
    const clients = [new MongoClient(t().mongoUrl), new MongoClient(t().mongoUrl)];
    try {
      const sinks = clients.map((c) => createMongoSink(c.db(t().mongoDbName)));
      const ids = Array.from({ length: 200 }, (_, i) => `insert-race-${i}`);
      await Promise.all(
        sinks.map(async (sink, s) => {
          for (const id of ids) {
            const outcomes = await applyOk(sink, [event(id, s + 1, { id, v: s + 1 })]);
            expect(outcomes.get(`transaction/${id}/v${s + 1}`)).toMatchObject({ status: 'applied' });
          }
        }),
      );
      const wrong = (await docs().find({ _id: { $in: ids } }).toArray()).filter((d) => d.version !== 2 || d.metadata.v !== 2);
      expect(wrong.map((d) => [d._id, d.version])).toEqual([]);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
