import { toSqlDb, type DbLike } from '../db/toSqlDb.ts';

/** A parked event, as an operator needs to judge it. */
export interface DeadEvent {
  id: number;
  eventId: string;
  aggregateType: string;
  aggregateId: string;
  version: number;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  deadAt: Date | null;
  /** Seconds since the event was committed (how long its metadata has been missing). */
  ageSeconds: number;
}

interface DeadRow {
  id: string;
  event_id: string;
  aggregate_type: string;
  aggregate_id: string;
  version: number;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  dead_at: Date | null;
  age_seconds: number;
}

/** Dead events, oldest first. The hot table holds few of them: no index needed. */
export async function listDead(database: DbLike, options: { limit: number }): Promise<DeadEvent[]> {
  const db = toSqlDb(database);
  if (!Number.isInteger(options.limit) || options.limit < 1) throw new RangeError(`listDead: limit must be a positive integer (got ${options.limit})`);
  const { rows } = await db.query<DeadRow>(
    `SELECT id, event_id, aggregate_type, aggregate_id, version, attempts, last_error, created_at, dead_at,
            extract(epoch FROM now() - created_at)::float8 AS age_seconds
       FROM outbox
      WHERE status = 'dead'
      ORDER BY created_at, id
      LIMIT $1`,
    [options.limit],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    eventId: r.event_id,
    aggregateType: r.aggregate_type,
    aggregateId: r.aggregate_id,
    version: r.version,
    attempts: r.attempts,
    lastError: r.last_error,
    createdAt: r.created_at,
    deadAt: r.dead_at,
    ageSeconds: Number(r.age_seconds),
  }));
}
