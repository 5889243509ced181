import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { pauseRelays } from '../../../src/control/pauseRelays.ts';
import { readPauseState } from '../../../src/control/readPauseState.ts';
import { resumeRelays } from '../../../src/control/resumeRelays.ts';
import { createRoles } from '../../../src/db/createRoles.ts';
import { createPool } from '../../../src/db/pool.ts';
import { poolDb } from '../../../src/db/toSqlDb.ts';
import { claimBatch } from '../../../src/outbox/claimBatch.ts';
import { markDelivered } from '../../../src/outbox/markDelivered.ts';
import { readMetadataContent } from '../../../src/metadata/readMetadataContent.ts';
import { insertEvents } from '../../helpers/outboxFixtures.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
const login = `outbox_relay_login_${randomBytes(3).toString('hex')}`;
afterAll(async () => {
  // Roles are cluster-wide: drop only the login role this file created.
  await t().pool.query(`DROP OWNED BY ${login}`).catch(() => {});
  await t().pool.query(`DROP ROLE IF EXISTS ${login}`).catch(() => {});
});

describe('least-privilege roles', () => {
  it('migrate --create-roles is idempotent, and the relay role drains the outbox but cannot touch money', async () => {
    expect(await createRoles(t().databaseUrl)).toEqual(['outbox_relay_writer', 'outbox_relay_relay']);
    await createRoles(t().databaseUrl); // again: no error
    await t().pool.query(`CREATE ROLE ${login} LOGIN IN ROLE outbox_relay_relay`);
    const url = new URL(t().databaseUrl);
    url.username = login;
    const pool = createPool(url.toString(), { max: 1 });
    try {
      // Several suites share this server's 100 connections and only superusers get the
      // last 3: wait for a slot for this (non-superuser) login; the pool then keeps it.
      await waitFor(async () => (await pool.query('SELECT 1')).rowCount === 1, { timeoutMs: 60_000, intervalMs: 200, message: 'a connection slot for the relay role' });
      await insertEvents(t().pool, [{ aggregateId: 'roles-1', version: 1, metadata: { a: 1 } }]);
      const db = poolDb(pool);
      const claimed = await claimBatch(db, { relayId: 'least-privilege', batchSize: 10, leaseMs: 10_000 });
      expect(claimed).toHaveLength(1);
      expect((await markDelivered(db, { relayId: 'least-privilege', ids: claimed.map((e) => e.id) })).delivered).toHaveLength(1);
      // The operator API's writes: pause, resume, read the pauses, append to the audit log, but never rewrite it.
      await pauseRelays(db, { reason: 'roles', actor: 'alice' });
      expect((await readPauseState(db)).all).toBe(true);
      await resumeRelays(db, { reason: 'roles', actor: 'alice' });
      await expect(pool.query(`UPDATE audit_log SET reason = 'rewritten'`)).rejects.toThrow(/permission denied/);
      await expect(pool.query(`DELETE FROM audit_log`)).rejects.toThrow(/permission denied/);
      // Thin events' content and rebuild's bookkeeping are readable/writable by the relay role.
      expect((await readMetadataContent(db, [{ aggregateType: 'transaction', aggregateId: randomUUID() }, { aggregateType: 'invoice', aggregateId: 'i-1' }])).size).toBe(0);
      await pool.query(`INSERT INTO rebuild_run (filter_key, filter) VALUES ('roles', '{}'); UPDATE rebuild_run SET finished_at = now() WHERE filter_key = 'roles'`);
      await expect(pool.query(`UPDATE "transaction" SET metadata = '{}'`)).rejects.toThrow(/permission denied/);
      await expect(pool.query(`UPDATE balance SET available = available + 1`)).rejects.toThrow(/permission denied/);
      await expect(pool.query(`DELETE FROM "transaction"`)).rejects.toThrow(/permission denied/);
    } finally {
      await pool.end();
    }
  });
});
