import type { SqlDb } from '../db/sqlDb.ts';
import type { Logger } from '../logger.ts';
import { readLag, type OutboxLag } from '../outbox/readLag.ts';

/** A tenant's pending count as a scrape reports it, and how old the figure is. */
export interface LagReading {
  pendingCount: number;
  /** 0 when read at the scrape; otherwise seconds since the sample was taken. */
  ageSeconds: number;
}

/** A whole outbox_lag read and when (epoch ms): what the fleet overview publishes. */
export interface FullLagSample {
  lag: OutboxLag;
  at: number;
}

export interface TenantLag {
  /** For a scrape: read live while the tenant is hot, the last sample while it is cold (no connection). */
  read(): Promise<LagReading | undefined>;
  /** Take a sample now on `db`, a connection the relay has open anyway (a cold check, the start). Never throws. */
  sample(db: SqlDb): Promise<void>;
  /** The newest whole sample (scrape or check), if any. */
  latest(): FullLagSample | undefined;
}

/**
 * Per-tenant lag without waking cold tenants. A scrape that read every
 * tenant's outbox_lag opened a cold tenant's connection once per scrape (its
 * pool keeps none between checks), so a fleet of idle tenants cost a
 * connection per tenant per scrape. Instead a cold tenant's lag is sampled in
 * its once-per-heartbeat check, on the connection the check opens anyway, and
 * a scrape serves that sample with its age: at most about one heartbeat old.
 * A hot tenant holds warm connections, so it is read live, and that reading
 * is kept as the sample the tenant starts from when it turns cold.
 */
export function tenantLag(db: SqlDb, isHot: () => boolean, logger: Logger): TenantLag {
  let last: FullLagSample | undefined;
  const take = async (on: SqlDb): Promise<boolean> => {
    try {
      last = { lag: await readLag(on), at: Date.now() };
      return true;
    } catch (error) {
      logger.debug({ err: error }, 'could not read the tenant lag');
      return false;
    }
  };
  return {
    async read() {
      if (isHot() && (await take(db)) && last) return { pendingCount: last.lag.pendingCount, ageSeconds: 0 };
      if (!last) return undefined;
      return { pendingCount: last.lag.pendingCount, ageSeconds: (Date.now() - last.at) / 1000 };
    },
    async sample(on) {
      await take(on);
    },
    latest: () => last,
  };
}
