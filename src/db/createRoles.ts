import pg from 'pg';

/**
 * Least-privilege group roles (NOLOGIN): grant them to your login users,
 * e.g. `GRANT outbox_relay_relay TO relay_login;`.
 * - outbox_relay_writer: posts transactions and enqueues events.
 * - outbox_relay_relay: drains the outbox, keeps its registry row, prunes,
 *   reads what reconcile reads, and enqueues repair events; serves the
 *   operator API (pauses, audit rows it may append but not change). It
 *   cannot change balances, transactions or operations.
 * Idempotent: roles are created if missing and the grants re-applied.
 */
export const ROLE_GRANTS: Readonly<Record<'outbox_relay_writer' | 'outbox_relay_relay', readonly string[]>> = {
  outbox_relay_writer: [
    'GRANT SELECT, INSERT, UPDATE ON balance, "transaction", operation TO outbox_relay_writer',
    'GRANT SELECT, INSERT ON outbox TO outbox_relay_writer',
    // enqueue(…, { keepContent: true }) keeps the content here.
    'GRANT SELECT, INSERT, UPDATE ON entity_metadata TO outbox_relay_writer',
    'GRANT SELECT ON outbox_delivered TO outbox_relay_writer',
    // The NOTIFY trigger runs as the writer and reads whether a relay waits.
    'GRANT SELECT ON outbox_wakeup TO outbox_relay_writer',
    'GRANT USAGE ON SEQUENCE outbox_id_seq TO outbox_relay_writer',
  ],
  outbox_relay_relay: [
    'GRANT SELECT, INSERT, UPDATE, DELETE ON outbox TO outbox_relay_relay',
    'GRANT SELECT, INSERT, DELETE ON outbox_delivered TO outbox_relay_relay',
    'GRANT SELECT, INSERT, UPDATE ON outbox_relay TO outbox_relay_relay',
    'GRANT SELECT, UPDATE ON outbox_wakeup TO outbox_relay_relay',
    'GRANT SELECT ON outbox_lag TO outbox_relay_relay',
    // Thin events' content is read from the entity rows at delivery; rebuild reads them too.
    'GRANT SELECT ON balance, "transaction", operation, entity_metadata, metadata_backfill TO outbox_relay_relay',
    'GRANT SELECT, INSERT, UPDATE ON rebuild_run TO outbox_relay_relay',
    'GRANT SELECT, INSERT ON reconcile_run TO outbox_relay_relay',
    // The operator API: pauses, and an audit log the relay may append to but never rewrite.
    'GRANT SELECT, INSERT, UPDATE, DELETE ON relay_pause TO outbox_relay_relay',
    'GRANT SELECT, INSERT ON audit_log TO outbox_relay_relay',
    'GRANT USAGE ON SEQUENCE outbox_id_seq, reconcile_run_id_seq, audit_log_id_seq, rebuild_run_id_seq TO outbox_relay_relay',
  ],
};

export async function createRoles(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'outbox-relay-migrate' });
  await client.connect();
  try {
    await client.query('BEGIN');
    for (const [role, grants] of Object.entries(ROLE_GRANTS)) {
      // CREATE ROLE has no IF NOT EXISTS; role names are our constants, not input.
      await client.query(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role} NOLOGIN; END IF; END $$`);
      await client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
      for (const grant of grants) await client.query(grant);
    }
    await client.query('COMMIT');
    return Object.keys(ROLE_GRANTS);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}
