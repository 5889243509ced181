import type pg from 'pg';
import type { SqlDb } from './pool.ts';

/**
 * A hot statement as node-postgres runs it: named (parsed and planned once
 * per server connection) only when the pool is session-mode. Through a
 * transaction-pooling PgBouncer a name breaks: the statement is prepared on
 * one server connection, the next execution lands on another ("prepared
 * statement … does not exist") or a fresh client prepares it again on a
 * connection that has it ("… already exists": two relays behind PgBouncer
 * 1.18 delivered nothing). Unnamed, each execution is one Parse/Bind/Execute
 * with a custom plan, which stays on the same index paths
 * (test/int/outbox/claimBatch.int.test.ts) and costs little extra (bench:
 * "claim latency").
 */
export function statement(db: SqlDb, name: string, text: string, values: unknown[]): pg.QueryConfig {
  return db.poolMode === 'session' ? { name, text, values } : { text, values };
}
