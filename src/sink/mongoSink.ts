/**
 * The MongoDB adapter of the sink port: one collection per entity type
 * (`<aggregateType>_metadata`), one document per entity, written with
 * version-fenced upserts so replays and out-of-order events are no-ops.
 */
import { BSON, type Db } from 'mongodb';
import pRetry from 'p-retry';
import { toError } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { classifyRequestError, isClosedTopologyError } from './classifyMongoError.ts';
import { collapseEvents } from './collapseEvents.ts';
import { metadataCollectionName, type ApplyResult, type EventOutcome, type MetadataSink, type SinkEvent } from './metadataSink.ts';
import { SinkTransientError } from './sinkErrors.ts';
import { writeFencedUpserts, type FencedUpsert, type MetadataDocument } from './writeFencedUpserts.ts';

export interface MongoSinkOptions {
  /** Whole-batch retries on transient errors before giving up with `{ ok: false }`. Default 5. */
  retries?: number;
  /** First backoff delay; doubles per retry. Default 100 ms. */
  minTimeoutMs?: number;
  /** Backoff cap. Default 2 s. */
  maxTimeoutMs?: number;
  logger?: Logger;
  /** Larger documents fail permanently before anything is sent. Default 16 MiB less 16 KiB. */
  maxDocumentBytes?: number;
  /** How long `ping()` waits. Default 1 s. */
  pingTimeoutMs?: number;
}

/** MongoDB's BSON document limit, less room for the update command wrapped around the document. */
export const DEFAULT_MAX_DOCUMENT_BYTES = 16 * 1024 * 1024 - 16 * 1024;

/** Collection names may not be empty or contain `$` or NUL. */
const VALID_AGGREGATE_TYPE = /^[^$\0]+$/;

/** A collapsed group's newest event, routed to its collection; `outcome` is set once settled. */
interface PlannedWrite {
  collection: string;
  upsert: FencedUpsert;
  outcome?: EventOutcome;
}

export function createMongoSink(db: Db, options: MongoSinkOptions = {}): MetadataSink {
  const retries = options.retries ?? 5;
  const minTimeout = options.minTimeoutMs ?? 100;
  const maxTimeout = options.maxTimeoutMs ?? 2000;
  const maxDocumentBytes = options.maxDocumentBytes ?? DEFAULT_MAX_DOCUMENT_BYTES;
  const pingTimeoutMs = options.pingTimeoutMs ?? 1000;
  const logger = options.logger ?? silentLogger;

  async function prepare(aggregateTypes: readonly string[]): Promise<void> {
    for (const type of new Set(aggregateTypes)) {
      const name = metadataCollectionName(type);
      try {
        await db.createCollection(name);
      } catch (error) {
        // 48 NamespaceExists: another relay (or an earlier start) created it.
        if ((error as { code?: unknown }).code !== 48) throw error;
      }
      await db.collection(name).createIndex({ updatedAt: 1 });
    }
  }

  async function apply(events: readonly SinkEvent[], applyOptions: { signal?: AbortSignal } = {}): Promise<ApplyResult> {
    const groups = collapseEvents(events);
    const plans = groups.map((group) => planWrite(group.winner, maxDocumentBytes));
    const byCollection = new Map<string, PlannedWrite[]>();
    for (const plan of plans) {
      if (plan.outcome) continue;
      const list = byCollection.get(plan.collection);
      if (list) list.push(plan);
      else byCollection.set(plan.collection, [plan]);
    }

    let reconnect = false;
    try {
      await pRetry(
        async () => {
          if (reconnect) {
            await db.client.connect();
            reconnect = false;
          }
          // One bulk write per collection, collections in parallel. Each settles what it
          // can before an error surfaces; a retry sends only what is still unsettled.
          const results = await Promise.allSettled([...byCollection].map(([name, planned]) => writeCollection(db, name, planned)));
          const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
          if (failure) throw failure.reason;
        },
        {
          retries,
          factor: 2,
          minTimeout,
          maxTimeout,
          signal: applyOptions.signal,
          shouldRetry: ({ error }) => {
            // A client whose first connection failed stays closed until connect() is
            // called again; the owner's own close() gives a different error (NotConnected),
            // which we leave alone.
            if (isClosedTopologyError(error)) reconnect = true;
            return error instanceof SinkTransientError || classifyRequestError(error) === 'transient';
          },
          onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
            logger.warn({ err: error.message, attempt: attemptNumber, retriesLeft }, 'sink write failed');
          },
        },
      );
    } catch (error) {
      return { ok: false, error: toError(error) };
    }

    const outcomes = new Map<string, EventOutcome>();
    groups.forEach((group, i) => {
      const outcome = plans[i]?.outcome ?? { status: 'failed', error: 'the sink settled no outcome for this event' };
      for (const event of group.events) outcomes.set(event.eventId, outcome);
    });
    return { ok: true, outcomes };
  }

  async function ping(): Promise<boolean> {
    // The driver's timeoutMS does not bound server selection for a command (measured:
    // 30 s against a closed port), so race a timer.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), pingTimeoutMs);
      timer.unref();
    });
    const command = db.command({ ping: 1 }).then(
      () => true,
      async (error: unknown) => {
        // Same recovery as apply(): a topology that closed itself after a failed first connection.
        if (!isClosedTopologyError(error)) return false;
        await db.client.connect();
        await db.command({ ping: 1 });
        return true;
      },
    ).catch(() => false);
    try {
      return await Promise.race([command, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  return { prepare, apply, ping };
}

/** Check what can be checked before sending: a bad event must not sink its whole batch. */
function planWrite(event: SinkEvent, maxDocumentBytes: number): PlannedWrite {
  const collection = metadataCollectionName(event.aggregateType);
  const metadata = event.payload?.metadata;
  const upsert: FencedUpsert = { id: event.aggregateId, version: event.version, metadata, eventId: event.eventId };
  const fail = (error: string): PlannedWrite => ({ collection, upsert, outcome: { status: 'failed', error } });
  if (!VALID_AGGREGATE_TYPE.test(event.aggregateType)) return fail(`invalid aggregate type ${JSON.stringify(event.aggregateType)} for a collection name`);
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) return fail('event payload has no metadata object');
  if (!Number.isSafeInteger(event.version) || event.version <= 0) return fail(`invalid version ${String(event.version)}`);
  // The driver refuses an oversized document client-side with a RangeError that
  // fails the whole bulk write; measure the stored document first instead.
  const size = BSON.calculateObjectSize({ _id: event.aggregateId, metadata, version: event.version, eventId: event.eventId, updatedAt: new Date() } satisfies MetadataDocument);
  if (size > maxDocumentBytes) {
    return fail(`document ${collection}/${event.aggregateId} is ${size} bytes, over the ${maxDocumentBytes}-byte limit (MongoDB documents are at most 16 MiB)`);
  }
  return { collection, upsert };
}

async function writeCollection(db: Db, name: string, planned: readonly PlannedWrite[]): Promise<void> {
  const unsettled = planned.filter((p) => !p.outcome);
  if (unsettled.length === 0) return;
  await writeFencedUpserts(
    db.collection<MetadataDocument>(name),
    unsettled.map((p) => p.upsert),
    (index, outcome) => {
      const plan = unsettled[index];
      if (plan) plan.outcome = outcome;
    },
  );
}
