/** Test data straight into the outbox (bulk SQL, one array per column). */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';

export interface FixtureEvent {
  aggregateType?: string;
  aggregateId: string;
  version: number;
  metadata: Record<string, unknown>;
  eventId?: string;
}

export async function insertEvents(pool: pg.Pool | pg.PoolClient, events: readonly FixtureEvent[]): Promise<string[]> {
  const eventIds = events.map((e) => e.eventId ?? randomUUID());
  await pool.query(
    `INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload)
     SELECT e, t, a, v, 'metadata.upserted', p
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::jsonb[]) AS u(e, t, a, v, p)`,
    [
      eventIds,
      events.map((e) => e.aggregateType ?? 'transaction'),
      events.map((e) => e.aggregateId),
      events.map((e) => e.version),
      events.map((e) => JSON.stringify({ metadata: e.metadata })),
    ],
  );
  return eventIds;
}

export async function outboxCounts(pool: pg.Pool): Promise<{ pending: number; dead: number; delivered: number; claimed: number }> {
  const { rows } = await pool.query(`SELECT
      (SELECT count(*)::int FROM outbox WHERE status = 'pending') AS pending,
      (SELECT count(*)::int FROM outbox WHERE status = 'dead') AS dead,
      (SELECT count(*)::int FROM outbox_delivered) AS delivered,
      (SELECT count(*)::int FROM outbox WHERE claimed_by IS NOT NULL) AS claimed`);
  return rows[0];
}
