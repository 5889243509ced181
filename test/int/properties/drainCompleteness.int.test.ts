/**
 * Properties, whatever the mix of thin and full events, the entities'
 * versions, the batch size, the byte bound and the sink's answer times, with
 * no fault injected: every event is delivered exactly once by a fleet of one
 * or two relays of one to three workers; and one worker's start drain alone
 * (polling a minute away, no notifications) delivers everything, never with
 * one entity at two sinks at once. A drain that stops early leaves rows
 * for the next poll: the pipelined drainer once did, when a batch claimed
 * ahead came back short or empty while the batches before were giving events
 * back past the byte bound (test/int/relay/batchBytes.int.test.ts has the
 * short case on its own). The fleet form caught two workers of one relay
 * writing one entity at once, which the claim then allowed.
 *
 * Replay a failure with FC_SEED=<seed> (fast-check prints it); FC_NUM_RUNS
 * asks for more runs than MIN_RUNS.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import type { ApplyResult, EventOutcome, MetadataSink, SinkEvent } from '../../../src/sink/metadataSink.ts';
import { capturedLogger } from '../../helpers/capturedLogger.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();

const MIN_RUNS = 40;
const NUM_RUNS = Math.max(MIN_RUNS, Number(process.env.FC_NUM_RUNS ?? 0) || 0);
const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;

let relays: Relay[] = [];
afterEach(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  relays = [];
});

const scenario = fc
  .record({
    /** Entities whose events are thin (content read from entity_metadata at delivery). */
    thinEntities: fc.integer({ min: 0, max: 10 }),
    /** Entities whose events carry their payload. */
    fullEntities: fc.integer({ min: 0, max: 10 }),
    /** Pending versions per entity (the claim takes an entity's versions together). */
    versions: fc.integer({ min: 1, max: 3 }),
    /** Thin entities' rows first (lower ids), or full ones. */
    thinFirst: fc.boolean(),
    contentBytes: fc.integer({ min: 100, max: 1_500 }),
    batchSize: fc.integer({ min: 1, max: 8 }),
    batchMaxBytes: fc.integer({ min: 1_024, max: 6_000 }), // the setting's floor is 1 KiB
    concurrency: fc.integer({ min: 1, max: 3 }),
    relays: fc.integer({ min: 1, max: 2 }),
    /** The sink's answer times, used in turn. */
    sinkDelaysMs: fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 6 }),
  })
  .filter((s) => s.thinEntities + s.fullEntities > 0);

type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never;

/** What the relays' sinks saw, together: every event id given, and entities given while already at a sink. */
interface SinkLog {
  given: string[];
  atSink: Set<string>;
  overlaps: string[];
}

/** Acknowledges every event after the scenario's delay, noting what it was given in the shared log. */
function slowSink(delaysMs: readonly number[], log: SinkLog): MetadataSink {
  let call = 0;
  return {
    async prepare() {},
    async ping() {
      return true;
    },
    async apply(events: readonly SinkEvent[]): Promise<ApplyResult> {
      log.given.push(...events.map((e) => e.eventId));
      const entities = [...new Set(events.map((e) => `${e.aggregateType}/${e.aggregateId}`))];
      log.overlaps.push(...entities.filter((key) => log.atSink.has(key)));
      for (const key of entities) log.atSink.add(key);
      const delay = delaysMs[call++ % delaysMs.length] ?? 0;
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      for (const key of entities) log.atSink.delete(key);
      return { ok: true, outcomes: new Map(events.map((e): [string, EventOutcome] => [e.eventId, { status: 'applied' }])) };
    },
  };
}

/** Writes the scenario's outbox (and the thin entities' content); returns how many rows. */
async function seed(s: Scenario): Promise<number> {
  const pool = t().pool;
  await pool.query('TRUNCATE outbox, outbox_delivered, outbox_relay, entity_metadata');
  await pool.query(
    `INSERT INTO entity_metadata (aggregate_type, aggregate_id, version, hash, metadata)
     SELECT 'invoice', 'inv-' || n, $2::int, 'h', jsonb_build_object('blob', repeat('x', $3::int)) FROM generate_series(1, $1::int) n`,
    [s.thinEntities, s.versions, s.contentBytes],
  );
  const thin = (count: number) =>
    pool.query(
      `INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload)
       SELECT gen_random_uuid(), 'invoice', 'inv-' || n, v, 'metadata.upserted', NULL
         FROM generate_series(1, $2::int) v, generate_series(1, $1::int) n ORDER BY v, n`,
      [count, s.versions],
    );
  const full = (count: number) =>
    pool.query(
      `INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload)
       SELECT gen_random_uuid(), 'transaction', 'tx-' || n, v, 'metadata.upserted',
              jsonb_build_object('metadata', jsonb_build_object('blob', repeat('y', $3::int)))
         FROM generate_series(1, $2::int) v, generate_series(1, $1::int) n ORDER BY v, n`,
      [count, s.versions, s.contentBytes],
    );
  if (s.thinFirst) {
    await thin(s.thinEntities);
    await full(s.fullEntities);
  } else {
    await full(s.fullEntities);
    await thin(s.thinEntities);
  }
  return (s.thinEntities + s.fullEntities) * s.versions;
}

/**
 * Runs the scenario's relays until the outbox is empty (at most 10 s) and
 * checks what reached the sinks: every event once. Returns the entities that
 * were at two sinks at once (see the fleet property for why they are not an
 * assertion yet).
 */
async function deliverAll(s: Scenario, pollIntervalMs: number): Promise<string[]> {
  const total = await seed(s);
  const log: SinkLog = { given: [], atSink: new Set(), overlaps: [] };
  const { logger, lines } = capturedLogger();
  relays = Array.from({ length: s.relays }, (_, i) =>
    createRelay(
      testRelayConfig(t(), {
        relayId: `relay-${i}`,
        listen: false,
        pollIntervalMs,
        batchSize: s.batchSize,
        batchMaxBytes: s.batchMaxBytes,
        concurrency: s.concurrency,
        mongoUrl: 'mongodb://127.0.0.1:1',
      }),
      { sink: slowSink(s.sinkDelaysMs, log), pool: t().pool, logger },
    ),
  );
  try {
    await Promise.all(relays.map((r) => r.start()));
    await waitFor(async () => (await t().pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox')).rows[0]?.n === 0, {
      timeoutMs: 10_000,
      message: `all ${total} events delivered`,
    }).catch(async (error: unknown) => {
      const left = await t().pool.query(
        `SELECT id, aggregate_id, version, attempts, status, claimed_by IS NOT NULL AS claimed, claimed_until > now() AS leased, available_at > now() AS backing_off, last_error FROM outbox ORDER BY id`,
      );
      throw new Error(`${(error as Error).message}; left: ${JSON.stringify(left.rows)}; logged: ${lines.join('')}`);
    });
  } finally {
    await Promise.all(relays.map((r) => r.stop()));
    relays = [];
  }
  const delivered = await t().pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox_delivered');
  expect(delivered.rows[0]?.n).toBe(total);
  expect(log.given).toHaveLength(total);
  expect(new Set(log.given).size).toBe(total);
  return log.overlaps;
}

describe('draining the outbox', () => {
  it('one worker: its start drain alone (the poll a minute away) delivers every event, each once, whatever the batch size, byte bound and sink answer times', async () => {
    await fc.assert(
      fc.asyncProperty(
        scenario.map((s) => ({ ...s, relays: 1, concurrency: 1 })),
        async (s) => {
          // One worker, one claim at a time: never one entity at two sinks.
          expect(await deliverAll(s, 60_000)).toEqual([]);
        },
      ),
      { numRuns: NUM_RUNS, seed: SEED, endOnFailure: true },
    );
  });

  it('a fleet (1-2 relays of 1-3 workers): every event once', async () => {
    // Concurrent claims may split an entity's versions (one takes v1 and v3
    // while v2 is row-locked by another claim's candidate scan, and skipped);
    // v2 then waits for the batch holding the entity, and a drain may end
    // before it is free: polling picks it up (DESIGN.md: notifications and
    // drains are an optimisation). Hence a short poll here, and the strict
    // form above for one worker.
    //
    // Not asserted yet: no entity at two sinks at once. Before the claim also
    // skipped entities held by the relay's own batches, nearly every seed found
    // two workers of one relay writing one entity together; what is left is
    // rarer (1 run in 40 to 500 here, more under load): a claim whose snapshot predates the
    // commit of a claim that split the entity takes the skipped v2 while the
    // other batch holds v1 (src/outbox/claimBatch.ts, "Known gap"). It is
    // counted and printed, so a run shows it.
    const overlaps: string[] = [];
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        overlaps.push(...(await deliverAll(s, 250)));
      }),
      { numRuns: NUM_RUNS, seed: SEED, endOnFailure: true },
    );
    if (overlaps.length > 0) console.warn(`fleet property: an entity at two sinks at once in this run (the claim's known gap): ${overlaps.join(', ')}`);
  });
});
