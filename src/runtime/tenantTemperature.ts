import type pg from 'pg';
import type { Logger } from '../logger.ts';
import type { DatabaseRelay } from '../relay/databaseRelay.ts';
import type { MetadataSink } from '../sink/metadataSink.ts';

export type Temperature = 'hot' | 'cold';

export interface TenantTemperature {
  current(): Temperature;
  /** A claimed batch is going to the sink: the tenant has work (turns hot now if cold). */
  noteWork(): void;
  /** Stop checking (the tenant stops); leaves the relay as it is. */
  stop(): void;
}

export interface TemperatureSettings {
  heartbeatMs: number;
  /** Heartbeats without work before a hot tenant turns cold; 0: always hot. */
  hotHeartbeats: number;
  /** Connections of the tenant's pool while hot. */
  poolSize: number;
}

/**
 * How long a cold tenant's one connection stays open after its check (the
 * heartbeat, then the claim). Long enough for both to reuse it on a busy
 * machine, short against a heartbeat of seconds: the connection is open
 * about 200 ms per heartbeat, so a cold tenant holds none most of the time.
 */
export const COLD_IDLE_MS = 200;
/** A hot tenant's idle connections close after this (the pool's usual). */
const HOT_IDLE_MS = 30_000;

/**
 * Hot and cold tenants. Idle tenants are most of a large fleet, and each one
 * kept warm costs a LISTEN connection plus the pool connections its polls keep
 * alive (measured 3.4 per idle tenant with a pool of 3), so max_connections,
 * not CPU, bounded the tenants per replica. A tenant is hot while it had work
 * in the last `hotHeartbeats` heartbeats: LISTEN on, polled every poll
 * interval, pool of `poolSize`. Then it turns cold: LISTEN off, polled once
 * per heartbeat (databaseRelay's idle mode), and its pool shrinks to one
 * connection that closes COLD_IDLE_MS after each check. A cold check that
 * claims work turns the tenant hot at once, so its latency is bounded by one
 * heartbeat for the first event and by LISTEN after that. Tenants start cold:
 * the start-up catch-up claim turns the busy ones hot, and a replica taking
 * over a thousand tenants does not open a thousand LISTEN connections.
 *
 * pg-pool reads `max` and `idleTimeoutMillis` from `pool.options` on each
 * checkout and release, so changing them takes effect on the next one.
 */
export function keepTemperature(parts: { relay: DatabaseRelay; pool: pg.Pool }, settings: TemperatureSettings, logger: Logger): TenantTemperature {
  const { relay, pool } = parts;
  const alwaysHot = settings.hotHeartbeats === 0;
  let temperature: Temperature = alwaysHot ? 'hot' : 'cold';
  let lastWorkAt = 0;

  const apply = (next: Temperature) => {
    temperature = next;
    pool.options.max = next === 'hot' ? settings.poolSize : 1;
    pool.options.idleTimeoutMillis = next === 'hot' ? HOT_IDLE_MS : COLD_IDLE_MS;
    void relay.setIdle(next === 'cold');
  };
  apply(temperature);

  const timer = alwaysHot
    ? undefined
    : setInterval(() => {
        if (temperature === 'hot' && Date.now() - lastWorkAt >= settings.hotHeartbeats * settings.heartbeatMs) {
          apply('cold');
          logger.debug('tenant turned cold: no LISTEN, polled once per heartbeat');
        }
      }, settings.heartbeatMs);
  timer?.unref();

  return {
    current: () => temperature,
    noteWork() {
      lastWorkAt = Date.now();
      if (temperature === 'cold') {
        apply('hot');
        logger.debug('tenant turned hot: LISTEN on, polled every poll interval');
      }
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}

/** The sink, telling `temperature` whenever a claimed batch reaches it. */
export function noticingWork(sink: MetadataSink, onWork: () => void): MetadataSink {
  return {
    prepare: (types) => sink.prepare(types),
    ping: () => sink.ping(),
    apply(events, options) {
      if (events.length > 0) onWork();
      return sink.apply(events, options);
    },
  };
}
