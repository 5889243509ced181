-- Hand-written: the outbox as a log, read through slot-owned snapshot windows
-- (DESIGN.md, "Choices with reasons"; issue #23). drizzle-kit cannot express a
-- partitioned table, a generated column over a function or a pg_snapshot
-- column, so these tables are not in src/db/schema.ts; src/outbox/log/ holds
-- the statements that use them, one per file.
--
-- This migration builds the log beside the per-row-lease outbox; nothing
-- writes to it yet, so it costs today's writers and relays nothing.
--
-- Slots: a row's slot is hash(slot key) mod M, fixed per database. M lives
-- in outbox_slot_of (a generated column needs an IMMUTABLE function) and in
-- outbox_slot_count; configureSlots() may change both while the log is
-- still empty (src/outbox/log/configureSlots.ts).
CREATE FUNCTION outbox_slot_count() RETURNS integer
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN 128;
--> statement-breakpoint
CREATE FUNCTION outbox_slot_of(slot_key text) RETURNS smallint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  -- The sign bit masked off: % of a negative number is negative.
  RETURN ((hashtextextended(slot_key, 0) & 9223372036854775807) % 128)::smallint;
--> statement-breakpoint
CREATE SEQUENCE outbox_log_id_seq AS bigint;
--> statement-breakpoint
-- One row per event. No status, no lease, no delivered mark: "delivered"
-- means "behind its slot's position" (outbox_slot), so the relay's happy path
-- writes nothing per event, and retention drops whole partitions.
CREATE TABLE outbox_log (
  id bigint NOT NULL DEFAULT nextval('outbox_log_id_seq'),
  event_id uuid NOT NULL,
  aggregate_type text NOT NULL,
  aggregate_id text NOT NULL,
  version integer NOT NULL,
  event_type text NOT NULL,
  -- { metadata } for an event that carries its content; NULL for a thin one.
  payload jsonb,
  trace_context jsonb,
  -- The entity whose slot this row follows when it is not its own: an
  -- operation's events follow their transaction, so every write of one
  -- MongoDB document comes from one slot owner (issue #23, item 6).
  slot_key text,
  slot smallint NOT NULL GENERATED ALWAYS AS (outbox_slot_of(coalesce(slot_key, aggregate_type || '/' || aggregate_id))) STORED,
  -- The writing transaction: windows are cut by snapshots over this column,
  -- which follows commit order (ids and xids do not).
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  -- clock_timestamp: commit-to-applied latency is measured from it.
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT outbox_log_version_positive CHECK (version > 0),
  -- (slot, id) serves the page read of an open window; it includes the
  -- partition key, as a partitioned table's primary key must.
  CONSTRAINT outbox_log_pkey PRIMARY KEY (slot, id)
) PARTITION BY RANGE (id);
--> statement-breakpoint
ALTER SEQUENCE outbox_log_id_seq OWNED BY outbox_log.id;
--> statement-breakpoint
-- (slot, xid) serves opening a window: the xids that began after its lower
-- snapshot, and the few that were in progress at it.
CREATE INDEX outbox_log_slot_xid_idx ON outbox_log (slot, xid);
--> statement-breakpoint
-- Ids past every range partition land here, so a relay that has not made the
-- next partition in time never fails a writer. Retention never drops it.
CREATE TABLE outbox_log_default PARTITION OF outbox_log DEFAULT;
--> statement-breakpoint
CREATE TABLE outbox_log_settings (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  -- Ids per range partition: retention drops a whole one at a time.
  partition_ids bigint NOT NULL DEFAULT 1000000 CHECK (partition_ids >= 1000),
  -- Range partitions kept made ahead of the sequence.
  partitions_ahead integer NOT NULL DEFAULT 2 CHECK (partitions_ahead BETWEEN 1 AND 100),
  -- How long delivered rows stay (the retained log), then their partition goes.
  retention interval NOT NULL DEFAULT interval '7 days'
);
--> statement-breakpoint
INSERT INTO outbox_log_settings DEFAULT VALUES;
--> statement-breakpoint
CREATE TABLE outbox_log_p0 PARTITION OF outbox_log FOR VALUES FROM (0) TO (1000000);
--> statement-breakpoint
CREATE TABLE outbox_log_p1 PARTITION OF outbox_log FOR VALUES FROM (1000000) TO (2000000);
--> statement-breakpoint
-- A slot's position and its lease. Everything visible in `lower` is
-- delivered; `upper` is the window being read (NULL: none open), delivered
-- through `after_id` of its rows, whose last id is `max_id`. Written once per
-- batch, and only by the holder of (owner, epoch): a takeover bumps the epoch,
-- so a zombie's late write matches no row.
CREATE TABLE outbox_slot (
  slot smallint PRIMARY KEY,
  owner text,
  lease_until timestamptz,
  epoch bigint NOT NULL DEFAULT 0,
  lower pg_snapshot,
  upper pg_snapshot,
  after_id bigint,
  max_id bigint,
  advanced_at timestamptz NOT NULL DEFAULT now(),
  delivered bigint NOT NULL DEFAULT 0,
  CONSTRAINT outbox_slot_window_whole CHECK ((upper IS NULL) = (max_id IS NULL) AND (upper IS NULL) = (after_id IS NULL))
);
--> statement-breakpoint
INSERT INTO outbox_slot (slot) SELECT generate_series(0, outbox_slot_count() - 1);
--> statement-breakpoint
-- Entities the relay set aside: after the retry budget ('failed'), or while
-- their aggregate type is paused ('paused'). Their later rows are copied to
-- outbox_set_aside as their slot passes them, so the slot keeps moving; a
-- redrive replays them into the log in their original order.
CREATE TABLE outbox_parked (
  aggregate_type text NOT NULL,
  aggregate_id text NOT NULL,
  slot smallint NOT NULL,
  reason text NOT NULL,
  from_version integer NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  parked_at timestamptz NOT NULL DEFAULT now(),
  -- A failed entity retries on its own until the budget is spent (NULL: never).
  retry_at timestamptz,
  -- Its rows were replayed for an automatic retry: they are read, not set
  -- aside, and the row goes once they are delivered (attempts survive a retry).
  replaying boolean NOT NULL DEFAULT false,
  CONSTRAINT outbox_parked_pkey PRIMARY KEY (aggregate_type, aggregate_id),
  CONSTRAINT outbox_parked_reason_valid CHECK (reason IN ('failed', 'paused'))
);
--> statement-breakpoint
CREATE TABLE outbox_set_aside (
  -- The row's id in outbox_log: replays keep this order.
  id bigint PRIMARY KEY,
  event_id uuid NOT NULL,
  aggregate_type text NOT NULL,
  aggregate_id text NOT NULL,
  version integer NOT NULL,
  event_type text NOT NULL,
  payload jsonb,
  trace_context jsonb,
  slot_key text,
  created_at timestamptz NOT NULL,
  set_aside_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE INDEX outbox_set_aside_entity_idx ON outbox_set_aside (aggregate_type, aggregate_id, id);
--> statement-breakpoint
-- One page of a slot's window, in id order: the slot's rows visible in the
-- window's upper snapshot and not in its lower one (PgQ's batch rule). A
-- window follows commit order, so an entity's versions are never read out of
-- order, and an open transaction delays only its own rows: they fall into
-- the first window whose upper snapshot sees them committed.
--
-- With no window open (p_upper NULL) it opens one on pg_current_snapshot():
-- the xids that began after the lower snapshot, plus the ones in progress at
-- it (outbox_log_slot_xid_idx), give the window's first and last id; the
-- pages then walk (slot, id) between those. An empty new window is not
-- returned and not stored: the next read tries a later snapshot from the
-- same lower one, so an idle slot writes nothing.
--
-- Returns the window (upper, max id) with every row; `parked`: the entity is
-- set aside (outbox_parked) or its type is in p_paused_types; `replaying`: it
-- is being retried (outbox_parked.replaying).
CREATE FUNCTION outbox_log_page(p_slot smallint, p_lower pg_snapshot, p_upper pg_snapshot, p_after bigint, p_max bigint, p_limit integer, p_paused_types text[])
RETURNS TABLE (id bigint, event_id uuid, aggregate_type text, aggregate_id text, version integer, event_type text, payload jsonb,
               trace_context jsonb, slot_key text, created_at timestamptz, slot smallint, window_upper text, window_max bigint, parked boolean, replaying boolean)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
  w_upper pg_snapshot := p_upper;
  w_after bigint := p_after;
  w_max bigint := p_max;
  w_min bigint;
BEGIN
  IF w_upper IS NULL THEN
    w_upper := pg_current_snapshot();
    SELECT min(o.id), max(o.id) INTO w_min, w_max
      FROM outbox_log o
     WHERE o.slot = p_slot
       AND ((o.xid >= coalesce(pg_snapshot_xmax(p_lower), '0'::xid8) AND o.xid < pg_snapshot_xmax(w_upper))
            OR o.xid = ANY (ARRAY(SELECT pg_snapshot_xip(p_lower))))
       AND pg_visible_in_snapshot(o.xid, w_upper)
       AND (p_lower IS NULL OR NOT pg_visible_in_snapshot(o.xid, p_lower));
    IF w_min IS NULL THEN
      RETURN;
    END IF;
    w_after := w_min - 1;
  END IF;
  RETURN QUERY
  SELECT o.id, o.event_id, o.aggregate_type, o.aggregate_id, o.version, o.event_type, o.payload, o.trace_context, o.slot_key, o.created_at,
         o.slot, w_upper::text, w_max,
         o.aggregate_type = ANY (p_paused_types) OR coalesce(NOT pk.replaying, false),
         coalesce(pk.replaying, false)
    FROM outbox_log o
    LEFT JOIN LATERAL (SELECT p.replaying FROM outbox_parked p WHERE p.aggregate_type = o.aggregate_type AND p.aggregate_id = o.aggregate_id) pk ON true
   WHERE o.slot = p_slot
     AND o.id > w_after
     AND o.id <= w_max
     AND pg_visible_in_snapshot(o.xid, w_upper)
     AND (p_lower IS NULL OR NOT pg_visible_in_snapshot(o.xid, p_lower))
   ORDER BY o.id
   LIMIT p_limit;
END
$$;
--> statement-breakpoint
-- One batch over the slots a worker holds, in the order given (the caller
-- rotates it, so no slot starves): each slot's next page until p_limit rows.
-- An idle poll over many slots is one statement, one index probe per slot.
CREATE FUNCTION outbox_log_read(p_slots smallint[], p_lowers text[], p_uppers text[], p_afters bigint[], p_maxes bigint[], p_limit integer, p_paused_types text[])
RETURNS TABLE (id bigint, event_id uuid, aggregate_type text, aggregate_id text, version integer, event_type text, payload jsonb,
               trace_context jsonb, slot_key text, created_at timestamptz, slot smallint, window_upper text, window_max bigint, parked boolean, replaying boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  taken integer := 0;
  n integer;
  i integer;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_slots, 1), 0) LOOP
    EXIT WHEN taken >= p_limit;
    RETURN QUERY SELECT * FROM outbox_log_page(p_slots[i], p_lowers[i]::pg_snapshot, p_uppers[i]::pg_snapshot, p_afters[i], p_maxes[i], p_limit - taken, p_paused_types);
    GET DIAGNOSTICS n = ROW_COUNT;
    taken := taken + n;
  END LOOP;
END
$$;
--> statement-breakpoint
-- When the sequence passed each range partition: its retention counts from then.
CREATE TABLE outbox_log_partition (
  n bigint PRIMARY KEY,
  full_at timestamptz NOT NULL
);
