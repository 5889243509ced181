/**
 * Relay configuration: one table of settings drives env parsing, CLI flags
 * and the README's configuration table. Resolved once into a frozen object;
 * a bad value fails at start with a message naming the variable (or flag).
 * Precedence: flag > environment > default.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

const ms = (min: number, max: number) => z.coerce.number().int('must be a whole number of milliseconds').min(min).max(max);
const count = (min: number, max: number) => z.coerce.number().int('must be a whole number').min(min).max(max);
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])]).transform((v) => v === true || v === 'true' || v === '1' || v === 'yes' || v === 'on');
const url = (protocols: string[]) =>
  z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

interface Setting<T> {
  env: string;
  flag: string;
  schema: z.ZodType<T, unknown>;
  default?: T;
  description: string;
}

function setting<T>(s: Setting<T>): Setting<T> {
  return s;
}

export const SETTINGS = {
  databaseUrl: setting({ env: 'DATABASE_URL', flag: '--database-url', schema: url(['postgres:', 'postgresql:']), description: 'PostgreSQL holding the ledger and the outbox (required).' }),
  controlDatabaseUrl: setting({ env: 'OUTBOX_RELAY_CONTROL_DATABASE_URL', flag: '--control-database-url', schema: url(['postgres:', 'postgresql:']).optional(), description: 'PostgreSQL holding the tenant registry (outbox_tenant) for `tenant` commands and `run --multi-tenant`. Defaults to DATABASE_URL.' }),
  listenDatabaseUrl: setting({ env: 'OUTBOX_RELAY_LISTEN_DATABASE_URL', flag: '--listen-database-url', schema: url(['postgres:', 'postgresql:']).optional(), description: 'Direct PostgreSQL URL for LISTEN when DATABASE_URL goes through a transaction-pooling PgBouncer. Defaults to DATABASE_URL.' }),
  mongoUrl: setting({ env: 'MONGO_URL', flag: '--mongo-url', schema: url(['mongodb:', 'mongodb+srv:']), description: 'MongoDB receiving the metadata documents (required).' }),
  mongoDb: setting({ env: 'MONGO_DB', flag: '--mongo-db', schema: z.string().regex(/^[A-Za-z0-9_-]{1,63}$/, 'must be 1–63 letters, digits, _ or -'), default: 'ledger', description: 'MongoDB database name.' }),
  relayId: setting({ env: 'OUTBOX_RELAY_ID', flag: '--relay-id', schema: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'must be 1–100 of A-Z a-z 0-9 _ . : -').optional(), description: 'This relay\'s id in outbox_relay and claimed_by. Defaults to host-pid-random.' }),
  batchSize: setting({ env: 'OUTBOX_RELAY_BATCH_SIZE', flag: '--batch-size', schema: count(1, 10_000), default: 500, description: 'Events claimed per batch.' }),
  concurrency: setting({ env: 'OUTBOX_RELAY_CONCURRENCY', flag: '--concurrency', schema: count(1, 64), default: 2, description: 'Batches in flight at once in this relay.' }),
  pollIntervalMs: setting({ env: 'OUTBOX_RELAY_POLL_INTERVAL_MS', flag: '--poll-interval-ms', schema: ms(10, 3_600_000), default: 1000, description: 'Safety-net poll interval; NOTIFY normally wakes the relay sooner.' }),
  leaseMs: setting({ env: 'OUTBOX_RELAY_LEASE_MS', flag: '--lease-ms', schema: ms(1000, 3_600_000), default: 30_000, description: 'How long a claim holds; a crashed relay\'s rows are claimable again after it.' }),
  listen: setting({ env: 'OUTBOX_RELAY_LISTEN', flag: '--listen', schema: bool, default: true, description: 'Use LISTEN/NOTIFY to wake up (false: polling only).' }),
  maxAttempts: setting({ env: 'OUTBOX_RELAY_MAX_ATTEMPTS', flag: '--max-attempts', schema: count(1, 1000), default: 10, description: 'Failed attempts before an event is parked as dead.' }),
  backoffBaseMs: setting({ env: 'OUTBOX_RELAY_BACKOFF_BASE_MS', flag: '--backoff-base-ms', schema: ms(0, 3_600_000), default: 1000, description: 'First retry delay of a failed event (doubles each attempt, with jitter).' }),
  backoffMaxMs: setting({ env: 'OUTBOX_RELAY_BACKOFF_MAX_MS', flag: '--backoff-max-ms', schema: ms(0, 86_400_000), default: 300_000, description: 'Cap on a failed event\'s retry delay.' }),
  sinkRetries: setting({ env: 'OUTBOX_RELAY_SINK_RETRIES', flag: '--sink-retries', schema: count(0, 20), default: 5, description: 'Retries of a batch on transient MongoDB errors before the relay backs off and releases it.' }),
  heartbeatMs: setting({ env: 'OUTBOX_RELAY_HEARTBEAT_MS', flag: '--heartbeat-ms', schema: ms(100, 60_000), default: 5000, description: 'Heartbeat of the outbox_relay row and the listener check.' }),
  shutdownTimeoutMs: setting({ env: 'OUTBOX_RELAY_SHUTDOWN_TIMEOUT_MS', flag: '--shutdown-timeout-ms', schema: ms(0, 600_000), default: 10_000, description: 'On SIGTERM, how long to finish the batch in hand before releasing it.' }),
  retentionHours: setting({ env: 'OUTBOX_RELAY_RETENTION_HOURS', flag: '--retention-hours', schema: z.coerce.number().min(0).max(24 * 3650), default: 168, description: 'Delivered events are kept this long, then pruned in batches.' }),
  pruneIntervalMs: setting({ env: 'OUTBOX_RELAY_PRUNE_INTERVAL_MS', flag: '--prune-interval-ms', schema: ms(1000, 86_400_000), default: 60_000, description: 'How often one relay (advisory lock) prunes delivered events.' }),
  reconcileEveryMs: setting({ env: 'OUTBOX_RELAY_RECONCILE_EVERY_MS', flag: '--reconcile-every-ms', schema: ms(0, 604_800_000), default: 0, description: 'Periodic reconciliation by one relay at a time (0: off).' }),
  opsHost: setting({ env: 'OUTBOX_RELAY_OPS_HOST', flag: '--ops-host', schema: z.string().min(1), default: '127.0.0.1', description: 'Address of the /metrics, /healthz, /readyz endpoint (loopback by default).' }),
  opsPort: setting({ env: 'OUTBOX_RELAY_OPS_PORT', flag: '--ops-port', schema: z.union([z.literal('off'), count(0, 65_535)]), default: 9464 as number | 'off', description: 'Port of the ops endpoint; 0 picks a free one, off disables it.' }),
  opsToken: setting({ env: 'OUTBOX_RELAY_OPS_TOKEN', flag: '--ops-token', schema: z.string().min(16, 'must be at least 16 characters').optional(), description: 'Bearer token required by /metrics and /readyz when set.' }),
  poolSize: setting({ env: 'OUTBOX_RELAY_POOL_SIZE', flag: '--pool-size', schema: count(1, 200), default: 8, description: 'PostgreSQL connections in this relay\'s pool.' }),
  tenantPoolSize: setting({ env: 'OUTBOX_RELAY_TENANT_POOL_SIZE', flag: '--tenant-pool-size', schema: count(1, 50), default: 3, description: 'With run --multi-tenant: PostgreSQL connections per tenant pool (idle ones close after 30 s).' }),
  tenantMetricsCap: setting({ env: 'OUTBOX_RELAY_TENANT_METRICS_CAP', flag: '--tenant-metrics-cap', schema: count(0, 10_000), default: 50, description: 'With run --multi-tenant: tenants with their own `tenant` label in /metrics (first by id); the rest are summed under tenant="_other".' }),
  traceMode: setting({ env: 'OUTBOX_RELAY_TRACE_MODE', flag: '--trace-mode', schema: z.enum(['parent', 'link']), default: 'parent' as 'parent' | 'link', description: 'With tracing on (OTEL_TRACES_EXPORTER): an event\'s span is a child of the writer\'s span (parent), or links to it from the relay\'s own trace (link).' }),
  logLevel: setting({ env: 'OUTBOX_RELAY_LOG_LEVEL', flag: '--log-level', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), default: 'info', description: 'pino log level.' }),
  logFormat: setting({ env: 'OUTBOX_RELAY_LOG_FORMAT', flag: '--log-format', schema: z.enum(['json', 'pretty', 'auto']), default: 'auto', description: 'json lines, pretty for a terminal, or auto (pretty when stderr is a terminal).' }),
} as const;

type Settings = typeof SETTINGS;
type ValueOf<S> = S extends Setting<infer T> ? T : never;

export type RelayConfig = Readonly<{
  [K in keyof Settings]: Settings[K] extends { default: unknown } ? Exclude<ValueOf<Settings[K]>, undefined> : ValueOf<Settings[K]>;
}> & { relayId: string; listenDatabaseUrl: string; controlDatabaseUrl: string | undefined };

export type ConfigOverrides = Partial<Record<keyof Settings, unknown>>;

function defaultRelayId(): string {
  return `${hostname().slice(0, 40)}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Resolve and validate. `overrides` are flag values (or a library caller's
 * options) keyed by setting name; they win over the environment.
 */
export function resolveConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: ConfigOverrides = {},
  required: ReadonlyArray<keyof Settings> = ['databaseUrl', 'mongoUrl'],
): RelayConfig {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(SETTINGS) as [keyof Settings, Setting<unknown>][]) {
    const fromFlag = overrides[key];
    const fromEnv = env[s.env];
    const source = fromFlag !== undefined ? `${s.flag} (${s.env})` : s.env;
    const raw = fromFlag !== undefined ? fromFlag : fromEnv !== undefined && fromEnv !== '' ? fromEnv.trim() : undefined;
    if (raw === undefined) {
      if ('default' in s) {
        out[key] = s.default;
        continue;
      }
      if (required.includes(key)) throw new ConfigError(s.env, `is required: ${s.description}`);
      out[key] = undefined;
      continue;
    }
    const parsed = s.schema.safeParse(raw);
    if (!parsed.success) {
      const reason = parsed.error.issues.map((issue) => issue.message).join('; ');
      // Never echo URL values: they may carry passwords.
      const shown = /URL/.test(s.env) ? '' : ` (got ${JSON.stringify(String(raw)).slice(0, 80)})`;
      throw new ConfigError(source, `${reason}${shown}`);
    }
    out[key] = parsed.data;
  }
  if ((out.backoffMaxMs as number) < (out.backoffBaseMs as number)) {
    throw new ConfigError(SETTINGS.backoffMaxMs.env, `must be at least ${SETTINGS.backoffBaseMs.env} (${String(out.backoffBaseMs)})`);
  }
  out.relayId ??= defaultRelayId();
  out.listenDatabaseUrl ??= out.databaseUrl;
  out.controlDatabaseUrl ??= out.databaseUrl;
  return Object.freeze(out) as RelayConfig;
}
