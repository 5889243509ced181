import type { Logger } from '../logger.ts';
import type { SqlDb } from './sqlDb.ts';

/** Whether anything vacuums and analyzes the outbox on its own. */
export interface AutovacuumState {
  /** The server's `autovacuum` setting (and `track_counts`, without which autovacuum never picks a table). */
  server: boolean;
  /** The outbox table's own `autovacuum_enabled` option (default on). */
  outbox: boolean;
}

export async function readAutovacuum(db: SqlDb): Promise<AutovacuumState> {
  const { rows } = await db.query<AutovacuumState>(`
    SELECT current_setting('autovacuum')::bool AND current_setting('track_counts')::bool AS server,
           coalesce((SELECT option_value::bool FROM pg_options_to_table(c.reloptions) WHERE option_name = 'autovacuum_enabled'), true) AS outbox
      FROM pg_class c
     WHERE c.oid = 'outbox'::regclass`);
  const row = rows[0];
  if (!row) throw new Error('readAutovacuum: no outbox table');
  return row;
}

/**
 * Warn at start when nothing vacuums or analyzes the outbox. The claim walks
 * an index in id order only while PostgreSQL's statistics say the table is
 * large; never analyzed, it is planned as a bitmap scan and sort of every
 * pending row, and dead rows of delivered events pile up in front of the
 * pending ones. Measured on a server with autovacuum off: a 500,000 backlog
 * made each claim of 500 take 6–10 s, so the relay fell further behind; one
 * ANALYZE brought the index walk back (docs/deployment.md, "Autovacuum"). Advisory: an
 * error here is logged at debug and the relay runs on.
 */
export async function warnIfAutovacuumOff(db: SqlDb, logger: Logger): Promise<void> {
  try {
    const state = await readAutovacuum(db);
    if (state.server && state.outbox) return;
    logger.warn(
      { autovacuum: state },
      `autovacuum does not run on the outbox (${state.server ? 'the table option autovacuum_enabled is false' : "the server's autovacuum or track_counts is off"}): ` +
        'nothing removes its dead rows or refreshes its statistics, and claims slow down as a backlog grows. ' +
        'Turn it on, or run VACUUM (ANALYZE) outbox every minute (docs/deployment.md, "Autovacuum").',
    );
  } catch (error) {
    logger.debug({ err: error }, 'could not read the autovacuum settings');
  }
}
