-- Hand-written: the operator's pauses appear in outbox_lag, so
-- `SELECT * FROM outbox_lag` still answers "why is nothing moving?".
-- CREATE OR REPLACE may only append columns; the others are unchanged
-- from 0001_outbox_lag_and_notify.sql.
CREATE OR REPLACE VIEW outbox_lag AS
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
     FROM outbox_relay WHERE stopped_at IS NULL AND heartbeat_at > now() - interval '30 seconds') AS relays,
  (SELECT coalesce(jsonb_agg(jsonb_build_object(
            'scope', scope, 'reason', reason, 'paused_by', paused_by, 'paused_at', paused_at)
          ORDER BY scope), '[]'::jsonb)
     FROM relay_pause) AS paused;
