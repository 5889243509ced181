import pgListen, { type Subscriber } from 'pg-listen';
import type { SqlDb } from '../db/sqlDb.ts';
import type { Logger } from '../logger.ts';
import type { WakeReason, WakeSource } from './wakeSource.ts';

// pg-listen is CommonJS with `exports.default`; under Node's ESM interop the
// default import is the whole module object.
const createSubscriber = pgListen.default;

export const OUTBOX_CHANNEL = 'outbox';
const PROBE_PREFIX = 'probe:';

export interface PgListenWakeOptions {
  /** Direct connection (LISTEN does not work through a transaction-pooling PgBouncer). */
  connectionString: string;
  /** Sends the liveness probe: any handle on the same database. */
  db: SqlDb;
  relayId: string;
  /** How often to prove the listener still receives (and to notice a silent death). */
  checkIntervalMs: number;
  logger: Logger;
  onReconnect?: () => void;
  onConnectionChange?: (connected: boolean) => void;
}

/**
 * pg-listen, supervised. Traps handled (see DESIGN.md):
 * - pg-listen gives up for good when reconnecting takes longer than its
 *   retryTimeout and emits `error`: we then build a new subscriber, with
 *   exponential backoff, forever, until stop().
 * - every `connected` (first connect and each reconnect) triggers a full
 *   catch-up drain, because notifications sent while we were away are lost.
 * - a listener can look connected yet not be listening. pg-listen does not
 *   expose its connection, so instead of asking `pg_listening_channels()` on
 *   it we prove the same thing end to end: on each check we NOTIFY the outbox
 *   channel with a probe payload naming this relay and expect to receive it.
 *   No answer within the interval → rebuild the subscriber.
 * The notification handler only sets a flag-like callback: the listener's
 * connection must keep reading, or it pins the xmin horizon.
 */
export function createPgListenWake(options: PgListenWakeOptions): WakeSource {
  const { logger } = options;
  let subscriber: Subscriber | undefined;
  let isConnected = false;
  let stopped = false;
  let onWake: (reason: WakeReason) => void = () => {};
  let restartTimer: NodeJS.Timeout | undefined;
  let checkTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  // One lost connection is one reconnect, whether pg-listen's own retry or our
  // rebuild after it gave up brings it back.
  let outageCounted = false;
  const countOutage = () => {
    if (outageCounted) return;
    outageCounted = true;
    options.onReconnect?.();
  };
  let probeSeq = 0;
  let lastProbeSent = 0;
  let lastProbeSeen = 0;

  const setConnected = (value: boolean) => {
    if (isConnected !== value) options.onConnectionChange?.(value);
    isConnected = value;
  };

  const build = async (): Promise<void> => {
    const s = createSubscriber(
      { connectionString: options.connectionString, application_name: `outbox-relay-listen:${options.relayId}`.slice(0, 63) },
      // Our own check below replaces pg-listen's paranoid SELECT; keep its own
      // reconnect short and let the supervisor take over after it gives up.
      { paranoidChecking: false, retryTimeout: 3000, retryInterval: 250, parse: (payload: string) => payload },
    );
    subscriber = s;
    s.events.on('connected', () => {
      if (subscriber !== s || stopped) return;
      failures = 0;
      outageCounted = false;
      setConnected(true);
      onWake('connected');
    });
    s.events.on('reconnect', (attempt: number) => {
      if (subscriber !== s) return;
      setConnected(false);
      countOutage();
      logger.warn({ attempt }, 'listener connection lost; reconnecting');
    });
    s.events.on('error', (error: Error) => {
      if (subscriber !== s || stopped) return;
      logger.warn({ err: error }, 'listener gave up; building a new one');
      void restart();
    });
    s.notifications.on(OUTBOX_CHANNEL, (payload: unknown) => {
      if (typeof payload === 'string' && payload.startsWith(PROBE_PREFIX)) {
        if (payload === `${PROBE_PREFIX}${options.relayId}:${probeSeq}`) lastProbeSeen = probeSeq;
        return; // another relay's probe, or ours: not work
      }
      onWake('notify');
    });
    await s.connect();
    await s.listenTo(OUTBOX_CHANNEL);
    // connect() emitted 'connected' before LISTEN was in place; drain again now that it is.
    onWake('connected');
  };

  const restart = async (): Promise<void> => {
    setConnected(false);
    const old = subscriber;
    subscriber = undefined;
    await old?.close().catch(() => {});
    if (stopped || restartTimer) return;
    countOutage();
    failures++;
    const delay = Math.min(30_000, 250 * 2 ** Math.min(failures - 1, 7)) * (0.5 + Math.random() / 2);
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (stopped) return;
      build().catch((error: unknown) => {
        logger.warn({ err: error }, 'listener could not connect; will retry');
        void restart();
      });
    }, delay);
  };

  const check = async (): Promise<void> => {
    if (stopped || !subscriber || !isConnected) return;
    if (lastProbeSent > 0 && lastProbeSeen !== lastProbeSent) {
      logger.warn({ probe: lastProbeSent }, 'listener did not receive its probe notification; rebuilding it');
      lastProbeSent = 0;
      await restart();
      return;
    }
    probeSeq++;
    lastProbeSent = probeSeq;
    await options.db.query('SELECT pg_notify($1, $2)', [OUTBOX_CHANNEL, `${PROBE_PREFIX}${options.relayId}:${probeSeq}`]).catch((error: unknown) => {
      lastProbeSent = 0; // the pool is down, not necessarily the listener
      logger.debug({ err: error }, 'could not send listener probe');
    });
  };

  return {
    async start(callback) {
      onWake = callback;
      stopped = false;
      try {
        await build();
      } catch (error) {
        logger.warn({ err: error }, 'listener could not connect at start; polling until it does');
        void restart();
      }
      checkTimer = setInterval(() => void check(), options.checkIntervalMs);
      checkTimer.unref();
    },
    async stop() {
      stopped = true;
      if (checkTimer) clearInterval(checkTimer);
      if (restartTimer) clearTimeout(restartTimer);
      setConnected(false);
      const s = subscriber;
      subscriber = undefined;
      await s?.close().catch(() => {});
    },
    connected: () => isConnected,
  };
}
