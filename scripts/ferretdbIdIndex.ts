/**
 * Give the local FerretDB's PostgreSQL backend an index its `_id` lookups can use.
 *
 * Why: FerretDB 1.24 pushes a filter on `_id` down to PostgreSQL as
 * `_jsonb -> '_id' @> '"<id>"'` (internal/backends/postgresql/query.go,
 * filterEqual), but the only index it creates on `_id` is a btree on
 * `(_jsonb -> '_id')`, which cannot answer `@>`. So every fenced upsert —
 * `{ _id, version: { $lt } }` — scans its whole collection: measured 2.3 ms
 * per lookup at 3,600 documents, growing linearly, which made a large
 * backlog drain slower and slower (quadratic) on FerretDB. MongoDB answers the
 * same filter from its `_id` index. A GIN index (jsonb_path_ops) on the same
 * expression answers `@>`; measured 0.02 ms on the same table, for plain and
 * prepared statements.
 *
 * The key is a bind parameter too (`_jsonb -> $1`), and FerretDB's driver
 * (pgx) prepares its statements: once PostgreSQL settles on a generic plan
 * for one (it does after five runs while a collection is still small), the
 * index is out of reach for good, since a generic plan cannot know that $1 is
 * '_id' (measured: 46,033 sequential scans against 13,858 index scans while
 * 60,000 documents were written). So the backend database also gets
 * `plan_cache_mode = force_custom_plan`: every statement is planned with its
 * values, which costs FerretDB a plan per query and keeps the index usable.
 *
 * The index is built with `fastupdate = off`: by default GIN appends new
 * entries to a pending list of up to 4 MB that every lookup scans in full, so
 * lookups slowed as documents were inserted (the sink wrote 946 events/s into
 * a fresh collection, 569 events/s on average over 60,000; with the option
 * 955 and 911 events/s).
 *
 * FerretDB creates one table per collection whenever a collection is created,
 * so an event trigger adds the index to each new table, and existing tables get
 * it once here. FerretDB's own catalog does not list the index (listIndexes is
 * unchanged) and drops it with the table. Only ever applied to the backend
 * database of a FerretDB this project starts itself (scripts/services.ts);
 * a user's own MongoDB or FerretDB is never touched.
 */
import pg from 'pg';

export const FERRETDB_ID_INDEX_SQL = `
CREATE OR REPLACE FUNCTION public.outbox_relay_index_ferretdb_id(target regclass) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE existing regclass;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = target AND attname = '_jsonb' AND NOT attisdropped) THEN
    RETURN;
  END IF;
  SELECT i.indexrelid::regclass INTO existing
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
   WHERE i.indrelid = target AND am.amname = 'gin'
   LIMIT 1;
  IF existing IS NULL THEN
    EXECUTE format('CREATE INDEX ON %s USING gin ((_jsonb -> %L) jsonb_path_ops) WITH (fastupdate = off)', target, '_id');
  ELSIF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = existing AND 'fastupdate=off' = ANY(coalesce(reloptions, '{}'))) THEN
    -- An index from before fastupdate was turned off: turn it off and merge its pending list.
    EXECUTE format('ALTER INDEX %s SET (fastupdate = off)', existing);
    PERFORM gin_clean_pending_list(existing);
  END IF;
END
$fn$;

CREATE OR REPLACE FUNCTION public.outbox_relay_ferretdb_on_create_table() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
DECLARE created record;
BEGIN
  FOR created IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' AND object_type = 'table' LOOP
    PERFORM public.outbox_relay_index_ferretdb_id(created.objid::regclass);
  END LOOP;
END
$fn$;

DO $do$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'outbox_relay_ferretdb_id_index') THEN
    CREATE EVENT TRIGGER outbox_relay_ferretdb_id_index ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
      EXECUTE FUNCTION public.outbox_relay_ferretdb_on_create_table();
  END IF;
END
$do$;

-- Collections created before the trigger existed.
SELECT public.outbox_relay_index_ferretdb_id(c.oid::regclass)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'public')
   AND n.nspname NOT LIKE 'pg\\_%';
`;

/**
 * Idempotent; serialised across concurrent `services` runs by an advisory lock.
 * Returns true when it changed the database's plan_cache_mode, which only new
 * sessions see: a FerretDB already running must then be restarted.
 */
export async function installFerretDbIdIndex(backendUrl: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: backendUrl, application_name: 'outbox-relay-services' });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('outbox_relay_ferretdb_id_index'))`);
    await client.query(FERRETDB_ID_INDEX_SQL);
    const { rows } = await client.query<{ set: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
                       WHERE d.datname = current_database() AND s.setrole = 0 AND 'plan_cache_mode=force_custom_plan' = ANY(s.setconfig)) AS set`,
    );
    const changed = rows[0]?.set !== true;
    if (changed) await client.query(`DO $do$ BEGIN EXECUTE format('ALTER DATABASE %I SET plan_cache_mode = force_custom_plan', current_database()); END $do$`);
    await client.query('COMMIT');
    return changed;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    await client.end().catch(() => {});
  }
}
