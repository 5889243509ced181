import type { SqlDb } from '../db/sqlDb.ts';
import type { Logger } from '../logger.ts';
import { extendClaims } from '../outbox/extendClaims.ts';

/**
 * Keeps a claimed batch's lease alive while the relay works on it: every
 * third of a lease, the rows still ours get a fresh lease.
 *
 * Why: the lease is the only thing that keeps a second relay off rows in
 * flight. When a batch takes longer than a lease (a slow sink, a large
 * backlog, retries during an outage), every relay would otherwise reclaim
 * every other relay's batch before it finishes, redo the same writes and
 * never mark anything delivered — throughput collapses exactly when the
 * backlog is largest. A relay that is frozen or dead cannot renew, so its
 * rows still come back after one lease, as before.
 *
 * A failed renewal is only logged: markDelivered checks claimed_by, so a
 * lease lost in the meantime costs a redundant (fenced) write, never a wrong one.
 */
export function keepLease(deps: { db: SqlDb; logger: Logger }, options: { relayId: string; ids: readonly number[]; leaseMs: number }): { stop(): void } {
  let stopped = false;
  let inFlight = false;
  let warned = false;
  const timer = setInterval(() => {
    if (stopped || inFlight) return;
    inFlight = true;
    extendClaims(deps.db, options)
      .then((held) => {
        if (held < options.ids.length && !warned) {
          warned = true;
          deps.logger.warn({ held, claimed: options.ids.length }, 'some rows of the batch in flight were reclaimed by another relay');
        }
      })
      .catch((error: unknown) => deps.logger.warn({ err: error }, 'could not extend the lease of the batch in flight'))
      .finally(() => {
        inFlight = false;
      });
  }, Math.max(50, Math.floor(options.leaseMs / 3)));
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
