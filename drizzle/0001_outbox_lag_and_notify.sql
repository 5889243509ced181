-- Hand-written: drizzle-kit does not model triggers or this view's body.

-- Wake the relay on commit. Statement-level, constant channel, empty payload:
-- Postgres folds identical notifications inside one transaction, delivers
-- them only on commit, and the relay reads rows, never payloads.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox', '');
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
--> statement-breakpoint
-- Queue tables churn: vacuum early so dead tuples never pile up under the
-- claim index; leave room on pages so claim stamps can be HOT updates.
ALTER TABLE outbox SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 500, autovacuum_analyze_scale_factor = 0.02);
--> statement-breakpoint
ALTER TABLE outbox_delivered SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
--> statement-breakpoint
-- Lag is one query away: SELECT * FROM outbox_lag.
-- A relay counts as alive while its heartbeat is under 30 s old.
CREATE VIEW outbox_lag AS
SELECT
  (SELECT count(*) FROM outbox WHERE status = 'pending') AS pending_count,
  (SELECT extract(epoch FROM now() - min(created_at))::double precision FROM outbox WHERE status = 'pending') AS oldest_pending_seconds,
  (SELECT count(*) FROM outbox WHERE status = 'pending' AND claimed_until > now()) AS in_flight_count,
  (SELECT count(*) FROM outbox WHERE status = 'dead') AS dead_count,
  (SELECT count(*) FROM outbox_delivered WHERE delivered_at > now() - interval '1 minute') AS delivered_last_minute,
  (SELECT count(*)::int FROM outbox_relay WHERE stopped_at IS NULL AND heartbeat_at > now() - interval '30 seconds') AS relays_alive,
  (SELECT max(last_delivered_at) FROM outbox_relay) AS last_delivered_at,
  (SELECT coalesce(jsonb_agg(jsonb_build_object(
            'id', id, 'host', host, 'pid', pid, 'heartbeat_at', heartbeat_at,
            'last_delivered_at', last_delivered_at, 'delivered_count', delivered_count)
          ORDER BY id), '[]'::jsonb)
     FROM outbox_relay WHERE stopped_at IS NULL AND heartbeat_at > now() - interval '30 seconds') AS relays;
