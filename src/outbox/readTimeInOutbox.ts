import { toSqlDb, type DbLike } from '../db/toSqlDb.ts';

/** Time in outbox over a recent window, from the delivered rows themselves. */
export interface TimeInOutbox {
  windowSeconds: number;
  /** Events delivered in the window (all relays). */
  count: number;
  /** Seconds from created_at to delivered_at; null when nothing was delivered. */
  p50Seconds: number | null;
  p99Seconds: number | null;
  byAggregateType: { aggregateType: string; count: number; p50Seconds: number; p99Seconds: number }[];
}

/**
 * p50/p99 of created_at → delivered_at over the last `windowSeconds`, for
 * `outbox-relay status`. Read from outbox_delivered rather than from the
 * relays' histograms: it covers the whole fleet (every relay writes there),
 * needs no scraping of N /metrics endpoints, and the percentiles are exact,
 * not interpolated within buckets. delivered_at is the mark's now(), just
 * after MongoDB acknowledged, so it agrees with the histogram to a round trip.
 * A range scan of outbox_delivered_delivered_at_idx: cheap for a minute.
 */
export const TIME_IN_OUTBOX_SQL = `
SELECT aggregate_type,
       count(*)::int AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at)) AS p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM delivered_at - created_at)) AS p99
  FROM outbox_delivered
 WHERE delivered_at > now() - $1::float8 * interval '1 second'
 GROUP BY ROLLUP (aggregate_type)
 ORDER BY aggregate_type NULLS FIRST`;

export async function readTimeInOutbox(database: DbLike, options: { windowSeconds?: number } = {}): Promise<TimeInOutbox> {
  const db = toSqlDb(database);
  const windowSeconds = options.windowSeconds ?? 60;
  const { rows } = await db.query<{ aggregate_type: string | null; n: number; p50: number | null; p99: number | null }>(TIME_IN_OUTBOX_SQL, [windowSeconds]);
  const total = rows.find((r) => r.aggregate_type === null);
  return {
    windowSeconds,
    count: total?.n ?? 0,
    p50Seconds: total?.p50 ?? null,
    p99Seconds: total?.p99 ?? null,
    byAggregateType: rows
      .filter((r) => r.aggregate_type !== null)
      .map((r) => ({ aggregateType: r.aggregate_type as string, count: r.n, p50Seconds: Number(r.p50), p99Seconds: Number(r.p99) })),
  };
}
