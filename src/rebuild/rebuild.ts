import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SqlDb } from '../db/sqlDb.ts';
import { toSqlDb } from '../db/toSqlDb.ts';
import { OutboxRelayError, ValidationError } from '../errors.ts';
import { silentLogger } from '../logger.ts';
import { createRelayMetrics } from '../ops/metrics.ts';
import { AGGREGATE_TYPE_PATTERN } from '../outbox/aggregateType.ts';
import { deliverBatch } from '../relay/deliverBatch.ts';
import { createMongoSink } from '../sink/mongoSink.ts';
import { claimForRebuild } from './claimForRebuild.ts';
import { countRebuildScope, listRebuildSources, readRebuildPage, type RebuildSource } from './rebuildSources.ts';
import { REBUILD_EVENT_TYPE, type RebuildDeps, type RebuildFilter, type RebuildOptions, type RebuildProgress, type RebuildReport } from './rebuildTypes.ts';

export const DEFAULT_REBUILD_BATCH_SIZE = 500;
export const DEFAULT_REBUILD_LEASE_MS = 60_000;

interface RunRow {
  id: string;
  cursor_type: string | null;
  cursor_id: string | null;
  done: string;
  total: string;
}

/** What the steps below run on: the caller's database as our handle. */
interface Deps extends Omit<RebuildDeps, 'db'> {
  db: SqlDb;
}

/**
 * Re-project entities from PostgreSQL (the source of truth) into MongoDB:
 * after MongoDB was lost or restored from a backup, or to repair a filtered
 * set. Writes go through the relays' own path (a claim, fenced upserts, mark
 * delivered), so writers and relays keep running: a newer version is never
 * overwritten, and an entity a relay holds is left to it.
 *
 * Run one rebuild per filter at a time (a second one with the same filter
 * resumes the same run, and the two would share its claims).
 *
 * Resumable: the watermark (type, last id) is saved after each batch is
 * applied; the same filter resumes the unfinished run (`restart` starts over).
 * A batch cut short by a crash is written again on resume (fenced, so
 * harmlessly), nothing before it is. Throttled by `ratePerSecond`.
 *
 * Bad options throw ValidationError('INVALID_REBUILD'); an unreachable
 * MongoDB throws OutboxRelayError('SINK_ERROR') with the watermark kept.
 */
export async function rebuild(given: RebuildDeps, filter: RebuildFilter = {}, options: RebuildOptions = {}): Promise<RebuildReport> {
  const deps: Deps = { ...given, db: toSqlDb(given.db) };
  const batchSize = options.batchSize ?? DEFAULT_REBUILD_BATCH_SIZE;
  const leaseMs = options.leaseMs ?? DEFAULT_REBUILD_LEASE_MS;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) invalid(`batchSize must be a whole number from 1 to 10000 (got ${String(batchSize)})`);
  if (!(typeof leaseMs === 'number' && Number.isFinite(leaseMs) && leaseMs >= 1000)) invalid(`leaseMs must be at least 1000 (got ${String(leaseMs)})`);
  if (options.ratePerSecond !== undefined && !(typeof options.ratePerSecond === 'number' && Number.isFinite(options.ratePerSecond) && options.ratePerSecond > 0)) {
    invalid(`ratePerSecond must be a number > 0 (got ${String(options.ratePerSecond)})`);
  }
  const normalised = normaliseFilter(filter);
  const logger = (deps.logger ?? silentLogger).child({ component: 'rebuild' });
  const { db } = deps;

  const sources = await listRebuildSources(db, normalised);
  const run = await openRun(deps, normalised, sources, options.restart === true);
  // Named by the run, not the process: a resumed run owns the claims its killed
  // predecessor left (their lease would otherwise keep those entities from it).
  const claimerId = `rebuild-${run.id}`;
  const sink = createMongoSink(deps.mongoDb, { logger: logger.child({ component: 'sink' }) });
  await sink.prepare(sources.map((s) => s.aggregateType));
  const metrics = createRelayMetrics({ defaultMetrics: false });
  const deliverSettings = { relayId: claimerId, maxAttempts: 10, backoffBaseMs: 1000, backoffMaxMs: 60_000 };

  const started = performance.now();
  const progress: RebuildProgress = {
    runId: run.id,
    done: run.done,
    total: run.total,
    resumedAt: run.done,
    written: 0,
    handedToRelays: 0,
    failed: 0,
    aggregateType: run.cursorType,
    ratePerSecond: 0,
    etaSeconds: null,
  };
  const report = (status: 'complete' | 'stopped'): RebuildReport => ({ status, seconds: round((performance.now() - started) / 1000), notRebuildable: run.notRebuildable, ...progress });
  options.onProgress?.({ ...progress });
  logger.info({ runId: run.id, resumedAt: run.done, total: run.total, filter: normalised }, run.done > 0 ? 'rebuild resumed' : 'rebuild started');

  // Types before the watermark's type are done; an unknown watermark type (its content gone since) restarts nothing.
  const startIndex = run.cursorType === null ? 0 : Math.max(0, sources.findIndex((s) => s.aggregateType === run.cursorType));
  for (const source of sources.slice(startIndex)) {
    let after = source.aggregateType === run.cursorType ? run.cursorId : null;
    progress.aggregateType = source.aggregateType;
    for (;;) {
      if (options.signal?.aborted) return report('stopped');
      const page = await readRebuildPage(db, source, normalised, after, batchSize);
      if (page.length === 0) break;
      const events = await claimForRebuild(db, { claimerId, aggregateType: source.aggregateType, entities: page, leaseMs });
      const taken = new Set(events.filter((e) => e.eventType === REBUILD_EVENT_TYPE).map((e) => e.aggregateId)).size;
      const outcome = await deliverBatch({ db, sink, metrics, logger }, deliverSettings, events);
      if (outcome.kind === 'sink_unavailable') {
        throw new OutboxRelayError('SINK_ERROR', `rebuild: MongoDB unavailable (${outcome.error.message}); run it again to resume from the watermark`, { cause: outcome.error });
      }
      after = page[page.length - 1]!.id;
      progress.written += taken;
      progress.handedToRelays += page.length - taken;
      progress.failed += outcome.failed;
      progress.done += page.length;
      await saveWatermark(deps, run.id, source.aggregateType, after, progress.done);
      const seconds = (performance.now() - started) / 1000;
      progress.ratePerSecond = round((progress.done - progress.resumedAt) / Math.max(seconds, 0.001));
      progress.etaSeconds = progress.ratePerSecond > 0 ? round(Math.max(0, progress.total - progress.done) / progress.ratePerSecond) : null;
      options.onProgress?.({ ...progress });
      if (page.length < batchSize) break;
      if (options.ratePerSecond) {
        // Hold the average at the rate: wait until the documents so far are "due".
        const dueMs = ((progress.done - progress.resumedAt) / options.ratePerSecond) * 1000 - (performance.now() - started);
        if (dueMs > 0) await sleep(dueMs, undefined, { signal: options.signal }).catch(() => {});
      }
    }
  }
  await db.query('UPDATE rebuild_run SET finished_at = now(), updated_at = now() WHERE id = $1', [run.id]);
  logger.info({ runId: run.id, done: progress.done, written: progress.written, handedToRelays: progress.handedToRelays, failed: progress.failed, notRebuildable: run.notRebuildable }, 'rebuild complete');
  return report('complete');
}

function normaliseFilter(filter: RebuildFilter): RebuildFilter {
  if (filter === null || typeof filter !== 'object') invalid('the filter must be an object');
  const out: RebuildFilter = {};
  if (filter.types !== undefined) {
    if (!Array.isArray(filter.types) || filter.types.length === 0) invalid('types must be a non-empty list');
    for (const type of filter.types) if (typeof type !== 'string' || !AGGREGATE_TYPE_PATTERN.test(type)) invalid(`unknown entity type ${JSON.stringify(type)}`);
    out.types = [...new Set(filter.types)].sort();
  }
  if (filter.since !== undefined) {
    if (!(filter.since instanceof Date) || Number.isNaN(filter.since.getTime())) invalid('since must be a valid Date');
    out.since = filter.since;
  }
  if (filter.ids !== undefined) {
    if (!Array.isArray(filter.ids)) invalid('ids must be a list of { aggregateType, aggregateId }');
    const seen = new Map<string, { aggregateType: string; aggregateId: string }>();
    for (const ref of filter.ids) {
      if (ref === null || typeof ref !== 'object' || typeof ref.aggregateType !== 'string' || !AGGREGATE_TYPE_PATTERN.test(ref.aggregateType) || typeof ref.aggregateId !== 'string' || ref.aggregateId.length === 0 || ref.aggregateId.length > 512) {
        invalid(`ids: not an entity reference: ${JSON.stringify(ref)}`);
      }
      // The ledger's ids are uuids as Postgres spells them (lower case).
      const aggregateId = ref.aggregateType === 'transaction' || ref.aggregateType === 'operation' ? ref.aggregateId.toLowerCase() : ref.aggregateId;
      seen.set(`${ref.aggregateType}/${aggregateId}`, { aggregateType: ref.aggregateType, aggregateId });
    }
    out.ids = [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, ref]) => ref);
  }
  return out;
}

async function openRun(
  deps: Deps,
  filter: RebuildFilter,
  sources: readonly RebuildSource[],
  restart: boolean,
): Promise<{ id: number; cursorType: string | null; cursorId: string | null; done: number; total: number; notRebuildable: number }> {
  const { db } = deps;
  const described = { ...filter, since: filter.since?.toISOString() };
  const filterKey = createHash('sha256').update(JSON.stringify(described)).digest('hex');
  let notRebuildable = 0;
  let total = 0;
  for (const source of sources) {
    const scope = await countRebuildScope(db, source, filter);
    total += scope.total;
    notRebuildable += scope.withoutContent;
  }
  if (restart) await db.query('UPDATE rebuild_run SET finished_at = now(), updated_at = now() WHERE filter_key = $1 AND finished_at IS NULL', [filterKey]);
  // One open run per filter (unique partial index): two rebuilds started at once with one filter share it.
  await db.query(
    `INSERT INTO rebuild_run (filter_key, filter, total) VALUES ($1, $2, $3) ON CONFLICT (filter_key) WHERE finished_at IS NULL DO NOTHING`,
    [filterKey, JSON.stringify({ ...described, ids: filter.ids ? `${filter.ids.length} entities` : undefined }), total],
  );
  const { rows } = await db.query<RunRow>('SELECT id, cursor_type, cursor_id, done, total FROM rebuild_run WHERE filter_key = $1 AND finished_at IS NULL', [filterKey]);
  const row = rows[0];
  if (!row) throw new OutboxRelayError('DATABASE_ERROR', 'rebuild: the run row vanished while it was opened (a concurrent --restart?)');
  return { id: Number(row.id), cursorType: row.cursor_type, cursorId: row.cursor_id, done: Number(row.done), total: Number(row.total), notRebuildable };
}

async function saveWatermark(deps: Deps, runId: number, type: string, lastId: string, done: number): Promise<void> {
  await deps.db.query('UPDATE rebuild_run SET cursor_type = $2, cursor_id = $3, done = $4, updated_at = now() WHERE id = $1', [runId, type, lastId, done]);
}

function invalid(message: string): never {
  throw new ValidationError('INVALID_REBUILD', `rebuild: ${message}`);
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
