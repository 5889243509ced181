import type { SqlDb } from '../db/sqlDb.ts';

/**
 * Tell writers whether a relay waits for a notification (outbox_wakeup, read
 * by the outbox's NOTIFY trigger). Writes only when the value changes, so a
 * relay cycling between busy and idle under load costs no row versions while
 * the flag already says what it would write.
 */
export async function setRelayWaiting(db: SqlDb, waiting: boolean): Promise<void> {
  await db.query({
    name: 'outbox_set_relay_waiting',
    text: `UPDATE outbox_wakeup SET relay_waiting = $1, changed_at = now() WHERE id AND relay_waiting IS DISTINCT FROM $1`,
    values: [waiting],
  });
}
