-- Upgrade: fill transaction.metadata and operation.metadata (added in 0008)
-- from the newest retained outbox payload at each entity's current metadata
-- version. What no retained payload holds (delivered and pruned before this
-- upgrade) stays NULL and is counted in metadata_backfill; `migrate` prints
-- it and `reconcile` reports it (check metadata-content), whose `--repair`
-- fills it from a MongoDB document that still holds the recorded hash.
-- drizzle runs every pending migration in one transaction: this either
-- completes with the schema change or not at all. Ids are compared as text:
-- a user's own events may use these aggregate types with ids that are not uuids.
WITH retained AS (
  SELECT id, aggregate_id, version, payload->'metadata' AS metadata FROM outbox
   WHERE aggregate_type = 'transaction' AND jsonb_typeof(payload->'metadata') = 'object'
  UNION ALL
  SELECT id, aggregate_id, version, payload->'metadata' FROM outbox_delivered
   WHERE aggregate_type = 'transaction' AND jsonb_typeof(payload->'metadata') = 'object'
), newest AS (
  SELECT DISTINCT ON (t.id) t.id, r.metadata
    FROM retained r
    JOIN "transaction" t ON t.id::text = r.aggregate_id AND t.metadata_version = r.version
   ORDER BY t.id, r.id DESC
)
UPDATE "transaction" t SET metadata = n.metadata FROM newest n WHERE t.id = n.id AND t.metadata IS NULL;
--> statement-breakpoint
WITH retained AS (
  SELECT id, aggregate_id, version, payload->'metadata' AS metadata FROM outbox
   WHERE aggregate_type = 'operation' AND jsonb_typeof(payload->'metadata') = 'object'
  UNION ALL
  SELECT id, aggregate_id, version, payload->'metadata' FROM outbox_delivered
   WHERE aggregate_type = 'operation' AND jsonb_typeof(payload->'metadata') = 'object'
), newest AS (
  SELECT DISTINCT ON (o.id) o.id, r.metadata
    FROM retained r
    JOIN operation o ON o.id::text = r.aggregate_id AND o.metadata_version = r.version
   ORDER BY o.id, r.id DESC
)
UPDATE operation o SET metadata = n.metadata FROM newest n WHERE o.id = n.id AND o.metadata IS NULL;
--> statement-breakpoint
INSERT INTO metadata_backfill (aggregate_type, filled, missing)
SELECT 'transaction', count(*) FILTER (WHERE metadata IS NOT NULL), count(*) FILTER (WHERE metadata IS NULL) FROM "transaction" WHERE metadata_version > 0
UNION ALL
SELECT 'operation', count(*) FILTER (WHERE metadata IS NOT NULL), count(*) FILTER (WHERE metadata IS NULL) FROM operation WHERE metadata_version > 0
ON CONFLICT (aggregate_type) DO UPDATE SET filled = EXCLUDED.filled, missing = EXCLUDED.missing, ran_at = now();
