import { randomBytes } from 'node:crypto';
import type { Collection } from 'mongodb';
import type { SqlDb } from '../db/sqlDb.ts';
import { classifyDrift, type StoredMetadata } from './classifyDrift.ts';
import { loadStoredMetadata } from './loadStoredMetadata.ts';
import { readMetadataPage, type ExpectedMetadataRow } from './readMetadataPage.ts';
import { collectionFor, Findings, METADATA_ENTITIES, type CheckContext, type CheckResult } from './reconcileTypes.ts';
import { repairMetadataDrift, type Drift } from './repairMetadataDrift.ts';

type Entity = (typeof METADATA_ENTITIES)[number];
type Tally = { findings: Findings; checked: number; skippedInFlight: number; repaired: number; unrepairable: string[]; needsRepairAhead: string[] };

/**
 * Postgres → MongoDB: every entity with metadata has its document at the
 * version Postgres recorded, with the same content hash. Entities with an
 * event still pending are skipped (MongoDB may lag them legitimately) and
 * counted. Memory is one page whichever way the comparison runs:
 * - `keyset` (MongoDB): keyset pages over Postgres, one `$in` per page;
 * - `scan` (FerretDB, whose `$in` is a full scan): one streamed read of the
 *   collection into a temp table, one join in Postgres yields candidates.
 *   A temp table belongs to a server connection, so in poolMode
 *   'transaction' (a transaction-pooling PgBouncer may hand each statement
 *   another one) it lives in one transaction (ON COMMIT DROP) per collection;
 *   that transaction holds a transaction id, so vacuum waits for it while
 *   the collection is read. In 'session' mode each statement autocommits and
 *   the table is dropped at the end.
 *
 * Every candidate is read again (Postgres, then MongoDB) before it is
 * reported: between the two reads a writer may have moved on and the relay
 * applied it, which would otherwise look like drift.
 */
export async function checkMetadataSync(ctx: CheckContext): Promise<CheckResult> {
  const tally: Tally = { findings: new Findings(ctx.sampleLimit), checked: 0, skippedInFlight: 0, repaired: 0, unrepairable: [], needsRepairAhead: [] };
  for (const entity of METADATA_ENTITIES) {
    const collection = ctx.mongoDb.collection<StoredMetadata>(collectionFor(entity.aggregateType));
    if (ctx.strategy === 'scan') await scanEntity(ctx, entity, collection, tally);
    else await keysetEntity(ctx, entity, collection, tally);
  }
  if (tally.findings.problems > 0) ctx.logger.warn({ problems: tally.findings.problems, skippedInFlight: tally.skippedInFlight }, 'metadata drift found');
  return {
    problems: tally.findings.problems,
    samples: tally.findings.samples,
    checked: tally.checked,
    skippedInFlight: tally.skippedInFlight,
    ...(ctx.repair ? { repaired: tally.repaired, unrepairable: tally.unrepairable, needsRepairAhead: tally.needsRepairAhead } : {}),
  };
}

async function keysetEntity(ctx: CheckContext, entity: Entity, collection: Collection<StoredMetadata>, tally: Tally): Promise<void> {
  let after: string | null = null;
  for (;;) {
    const page = await readMetadataPage(ctx.db, entity, { after, limit: ctx.pageSize });
    if (page.length === 0) return;
    after = page[page.length - 1]!.id;
    const judged = page.filter((row) => !row.inFlight);
    tally.skippedInFlight += page.length - judged.length;
    tally.checked += judged.length;
    const candidates = await findDrift(collection, judged);
    if (candidates.length > 0) await confirmAndRecord(ctx, entity, collection, candidates.map((c) => c.id), tally);
    if (page.length < ctx.pageSize) return;
  }
}

async function scanEntity(ctx: CheckContext, entity: Entity, collection: Collection<StoredMetadata>, tally: Tally): Promise<void> {
  const table = `reconcile_seen_${randomBytes(6).toString('hex')}`;
  // COMMIT drops the table (ON COMMIT DROP).
  if (ctx.db.poolMode === 'transaction') return ctx.db.transaction((tx) => scanInto(tx, table, { onCommitDrop: true }, ctx, entity, collection, tally));
  // A session table on one connection, so no transaction stays open while MongoDB is read.
  return ctx.db.connection(async (session) => {
    await scanInto(session, table, { onCommitDrop: false }, ctx, entity, collection, tally);
    await session.query(`DROP TABLE IF EXISTS ${table}`);
  });
}

async function scanInto(
  db: SqlDb,
  table: string,
  options: { onCommitDrop: boolean },
  ctx: CheckContext,
  entity: Entity,
  collection: Collection<StoredMetadata>,
  tally: Tally,
): Promise<void> {
  await loadStoredMetadata(db, collection, table, ctx.pageSize, options);
  const pending = `EXISTS (SELECT 1 FROM outbox o WHERE o.aggregate_type = $1 AND o.aggregate_id = e.id::text AND o.status = 'pending')`;
  const counts = await db.query<{ skipped: string; checked: string }>(
    `SELECT count(*) FILTER (WHERE x.in_flight) AS skipped, count(*) FILTER (WHERE NOT x.in_flight) AS checked
       FROM (SELECT ${pending} AS in_flight FROM ${entity.table} e WHERE e.metadata_version > 0) x`,
    [entity.aggregateType],
  );
  tally.skippedInFlight += Number(counts.rows[0]!.skipped);
  tally.checked += Number(counts.rows[0]!.checked);
  let after: string | null = null;
  for (;;) {
    const { rows }: { rows: { id: string }[] } = await db.query<{ id: string }>(
      `SELECT e.id::text AS id
         FROM ${entity.table} e LEFT JOIN ${table} s ON s.id = e.id
        WHERE e.metadata_version > 0 AND ($2::uuid IS NULL OR e.id > $2::uuid) AND NOT ${pending}
          AND (s.id IS NULL OR s.version IS DISTINCT FROM e.metadata_version OR s.hash IS DISTINCT FROM e.metadata_hash)
        ORDER BY e.id LIMIT $3`,
      [entity.aggregateType, after, ctx.pageSize],
    );
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.id;
    await confirmAndRecord(ctx, entity, collection, rows.map((r) => r.id), tally);
    if (rows.length < ctx.pageSize) break;
  }
}

/** Read the candidates again on both sides (Postgres first), then record and optionally repair what is still drift. */
async function confirmAndRecord(ctx: CheckContext, entity: Entity, collection: Collection<StoredMetadata>, ids: readonly string[], tally: Tally): Promise<void> {
  const again = await readMetadataPage(ctx.db, entity, { ids });
  const judged = again.filter((row) => !row.inFlight);
  // Became in flight since it was first read: skipped, like the others.
  tally.skippedInFlight += again.length - judged.length;
  tally.checked -= again.length - judged.length;
  const drifts = await findDrift(collection, judged);
  for (const d of drifts) tally.findings.add(`${entity.aggregateType}/${d.id}`, d.reason);
  if (ctx.repair && drifts.length > 0) {
    const outcome = await repairMetadataDrift(ctx.db, collection, entity, drifts, { repairAhead: ctx.repairAhead });
    tally.repaired += outcome.enqueued;
    for (const item of outcome.unrepairable) if (tally.unrepairable.length < ctx.sampleLimit) tally.unrepairable.push(item);
    for (const item of outcome.needsRepairAhead) if (tally.needsRepairAhead.length < ctx.sampleLimit) tally.needsRepairAhead.push(item);
  }
}

async function findDrift(collection: Collection<StoredMetadata>, rows: readonly ExpectedMetadataRow[]): Promise<(Drift & { reason: string })[]> {
  if (rows.length === 0) return [];
  const docs = await collection.find({ _id: { $in: rows.map((r) => r.id) } }, { projection: { _id: 1, version: 1, metadata: 1 } }).toArray();
  const byId = new Map(docs.map((doc) => [doc._id, doc]));
  const drifts: (Drift & { reason: string })[] = [];
  for (const row of rows) {
    const verdict = classifyDrift(row, byId.get(row.id));
    if (verdict.drift) {
      drifts.push({ id: row.id, version: row.version, hash: row.hash, kind: verdict.kind, reason: verdict.reason, ...('storedVersion' in verdict ? { storedVersion: verdict.storedVersion } : {}) });
    }
  }
  return drifts;
}
