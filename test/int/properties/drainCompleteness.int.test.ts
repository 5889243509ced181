/**
 * Property: whatever the mix of thin and full events, the entities' versions,
 * the batch size, the byte bound, the worker count and the sink's answer
 * times, one drain (the relay's start, with polling a minute away and no
 * notifications) delivers every event, each exactly once, with no fault
 * injected. A drain that stops early leaves rows for the next poll: the
 * pipelined drainer once did, when a batch claimed ahead came back short
 * while the batch before was giving events back past the byte bound
 * (test/int/relay/batchBytes.int.test.ts has that case on its own).
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

let relay: Relay | undefined;
afterEach(async () => {
  await relay?.stop();
  relay = undefined;
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
    /** The sink's answer times, used in turn. */
    sinkDelaysMs: fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 6 }),
  })
  .filter((s) => s.thinEntities + s.fullEntities > 0);

type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never;

/** Acknowledges every event after the scenario's delay; remembers every event id it was given. */
function slowSink(delaysMs: readonly number[]): MetadataSink & { given: string[] } {
  const given: string[] = [];
  let call = 0;
  return {
    given,
    async prepare() {},
    async ping() {
      return true;
    },
    async apply(events: readonly SinkEvent[]): Promise<ApplyResult> {
      given.push(...events.map((e) => e.eventId));
      const delay = delaysMs[call++ % delaysMs.length] ?? 0;
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
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

describe('one drain delivers everything', () => {
  it('every event, each once, by the start\'s drain alone, for any mix of batch size, byte bound, workers and sink answer times', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const total = await seed(s);
        const sink = slowSink(s.sinkDelaysMs);
        const { logger, lines } = capturedLogger();
        relay = createRelay(
          testRelayConfig(t(), {
            listen: false,
            pollIntervalMs: 60_000,
            batchSize: s.batchSize,
            batchMaxBytes: s.batchMaxBytes,
            concurrency: s.concurrency,
            mongoUrl: 'mongodb://127.0.0.1:1',
          }),
          { sink, pool: t().pool, logger },
        );
        try {
          await relay.start();
          await waitFor(async () => (await t().pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox')).rows[0]?.n === 0, {
            timeoutMs: 10_000,
            message: `the start's drain delivered all ${total} events`,
          }).catch(async (error: unknown) => {
            const left = await t().pool.query(
              `SELECT id, aggregate_id, version, attempts, status, claimed_by IS NOT NULL AS claimed, claimed_until > now() AS leased, available_at > now() AS backing_off, last_error FROM outbox ORDER BY id`,
            );
            throw new Error(`${(error as Error).message}; left: ${JSON.stringify(left.rows)}; logged: ${lines.join('')}`);
          });
        } finally {
          await relay.stop();
          relay = undefined;
        }
        const delivered = await t().pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox_delivered');
        expect(delivered.rows[0]?.n).toBe(total);
        expect(sink.given).toHaveLength(total);
        expect(new Set(sink.given).size).toBe(total);
      }),
      { numRuns: NUM_RUNS, seed: SEED, endOnFailure: true },
    );
  });
});
