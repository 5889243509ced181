/**
 * The chaos run's own check, independent of reconcile():
 *
 * - events lost: (entity, version) pairs the ledger committed — every
 *   transaction/operation with metadata_version = v > 0 committed one event
 *   for each of 1..v — without a row in outbox_delivered, plus events still
 *   pending after the drain.
 * - documents wrong: a committed entity whose MongoDB document is missing,
 *   is at another version than Postgres says, or whose metadata does not hash
 *   to Postgres' metadata_hash (sha256 of canonical JSON, the same function
 *   the writer used).
 * - duplicate effects. One event may reach MongoDB more than once (a relay
 *   killed after the write, before marking it delivered); the fence makes the
 *   second write a no-op, so a duplicate is only visible through what it
 *   leaves behind. We count both traces: (a) a document whose `eventId` is not
 *   an event of that entity at or below its current version (ledger events
 *   are thin: the relay writes the entity's newest content when it delivers
 *   one, so the current version may well be written by an older event of the
 *   entity, never by another entity's or a newer one's), and (b) an (entity, version) with more
 *   than one outbox_delivered row (more deliveries than events: each version
 *   has exactly one event, and event_id is unique there).
 */
import type { Db as MongoDb } from 'mongodb';
import type pg from 'pg';
import { metadataHash } from '../../src/metadata/metadataHash.ts';
import type { Metadata } from '../../src/types.ts';

export interface VerifyResult {
  entitiesChecked: number;
  documentsRead: number;
  eventsLost: number;
  documentsWrong: number;
  duplicateEffects: number;
  duplicateDocumentEvents: number;
  duplicateDeliveries: number;
  eventsDead: number;
  eventsPending: number;
  samples: string[];
}

const ENTITIES = [
  { type: 'transaction', table: '"transaction"' },
  { type: 'operation', table: 'operation' },
] as const;

export async function verify(pool: pg.Pool | pg.Client, mongoDb: MongoDb): Promise<VerifyResult> {
  const samples: string[] = [];
  const sample = (line: string) => {
    if (samples.length < 20) samples.push(line);
  };
  const outbox = await pool.query<{ pending: number; dead: number }>(
    `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending, count(*) FILTER (WHERE status = 'dead')::int AS dead FROM outbox`,
  );
  const { pending, dead } = outbox.rows[0] ?? { pending: 0, dead: 0 };

  let undelivered = 0;
  let entitiesChecked = 0;
  let documentsRead = 0;
  let documentsWrong = 0;
  let duplicateDocumentEvents = 0;
  for (const { type, table } of ENTITIES) {
    const missing = await pool.query<{ id: string; v: number }>(
      `SELECT e.id, e.v FROM (SELECT id::text AS id, generate_series(1, metadata_version) AS v FROM ${table} WHERE metadata_version > 0) e
        WHERE NOT EXISTS (SELECT 1 FROM outbox_delivered d WHERE d.aggregate_type = $1 AND d.aggregate_id = e.id AND d.version = e.v)`,
      [type],
    );
    undelivered += missing.rowCount ?? 0;
    for (const row of missing.rows.slice(0, 5)) sample(`not delivered: ${type}/${row.id} v${row.v}`);

    const expected = await pool.query<{ id: string; version: number; hash: string; event_ids: string[] | null }>(
      `SELECT e.id::text AS id, e.metadata_version AS version, e.metadata_hash AS hash,
              (SELECT array_agg(d.event_id::text) FROM outbox_delivered d WHERE d.aggregate_type = $1 AND d.aggregate_id = e.id::text AND d.version <= e.metadata_version) AS event_ids
         FROM ${table} e WHERE e.metadata_version > 0`,
      [type],
    );
    // FerretDB scans the whole collection for any find: read it once.
    const docs = new Map<string, { version: number; eventId: string; metadata: Metadata }>();
    for await (const doc of mongoDb.collection<{ _id: string; version: number; eventId: string; metadata: Metadata }>(`${type}_metadata`).find({})) {
      docs.set(doc._id, doc);
    }
    documentsRead += docs.size;
    for (const row of expected.rows) {
      entitiesChecked++;
      const doc = docs.get(row.id);
      if (!doc) {
        documentsWrong++;
        sample(`missing document: ${type}/${row.id} (Postgres v${row.version})`);
        continue;
      }
      if (doc.version !== row.version || metadataHash(doc.metadata) !== row.hash) {
        documentsWrong++;
        sample(`wrong document: ${type}/${row.id} MongoDB v${doc.version} Postgres v${row.version}${doc.version === row.version ? ' (hash differs)' : ''}`);
        continue;
      }
      if (row.event_ids !== null && !row.event_ids.includes(doc.eventId)) {
        duplicateDocumentEvents++;
        sample(`document written by another event: ${type}/${row.id} v${row.version} eventId ${doc.eventId}, not an event of it at v${row.version} or below`);
      }
    }
  }
  const dup = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (SELECT 1 FROM outbox_delivered GROUP BY aggregate_type, aggregate_id, version HAVING count(*) > 1) g`,
  );
  const duplicateDeliveries = dup.rows[0]?.n ?? 0;
  return {
    entitiesChecked,
    documentsRead,
    eventsLost: undelivered,
    documentsWrong,
    duplicateEffects: duplicateDocumentEvents + duplicateDeliveries,
    duplicateDocumentEvents,
    duplicateDeliveries,
    eventsDead: dead,
    eventsPending: pending,
    samples,
  };
}
