/**
 * The relay process with the null sink, configured by the same environment
 * as `outbox-relay run` (single database). Everything but the sink is the
 * package's own composition (createRelay, as a user with a sink of their own
 * would call it): claims, lease renewal, collapse, marking delivered,
 * heartbeat, metrics. Logs like the CLI ("relay started"), stops on SIGTERM.
 *
 * JavaScript, not TypeScript, and loading the built package when
 * OUTBOX_RELAY_BENCH_DIST=1 (scripts/bench.sh builds it): a .ts entry would
 * load Node's type stripper, about 25 MiB of RSS a deployed relay (dist/)
 * does not have (measured: idle relay 120 MiB from src/, 95 MiB from dist/).
 */
import pino from 'pino';

const pkg = process.env.OUTBOX_RELAY_BENCH_DIST === '1' ? await import('../../dist/index.js') : await import('../../src/index.ts');
const applied = { status: 'applied' };
/** Acknowledges every event at once and keeps nothing (bench only: a relay on it marks events delivered that went nowhere). */
const nullSink = {
  prepare: async () => {},
  apply: async (events) => ({ ok: true, outcomes: new Map(events.map((e) => [e.eventId, applied])) }),
  ping: async () => true,
};

const config = pkg.resolveConfig(process.env, {});
const logger = pino({ level: config.logLevel });
const relay = pkg.createRelay(config, { logger, sink: nullSink });
const stop = () => {
  relay.stop().then(
    () => process.exit(0),
    (error) => {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
await relay.start();
