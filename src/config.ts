/**
 * Relay configuration: one table of settings drives env parsing, CLI flags
 * and the configuration table of docs/relay.md (scripts/configTable.ts). Resolved once into a frozen object;
 * a bad value fails at start with a message naming the variable (or flag).
 * Precedence: flag > environment > default.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

// Counts and durations are plain decimal digits: `z.coerce.number()` alone
// would take "0x10" as 16, "1e3" as 1000 and a blank or whitespace value as
// 0, none of which an operator meant. Library callers may pass numbers.
const decimal = (pattern: RegExp, what: string) =>
  z.union([z.number(), z.string().regex(pattern, `must be ${what} in decimal digits`).transform(Number)]).pipe(z.number());
const ms = (min: number, max: number) => decimal(/^-?[0-9]+$/, 'a whole number of milliseconds').pipe(z.number().int('must be a whole number of milliseconds').min(min).max(max));
const count = (min: number, max: number) => decimal(/^-?[0-9]+$/, 'a whole number').pipe(z.number().int('must be a whole number').min(min).max(max));
const hours = (min: number, max: number) => decimal(/^-?[0-9]+(\.[0-9]+)?$/, 'a number of hours').pipe(z.number().min(min).max(max));
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])]).transform((v) => v === true || v === 'true' || v === '1' || v === 'yes' || v === 'on');
const url = (protocols: string[]) =>
  z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

/** A tenant id as the registry's CHECK allows it (tenants/tenantTypes.ts TENANT_ID_PATTERN; repeated: config loads nothing else). */
const TOKEN_TENANT_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** One named ops token; `tenants` present: it opens only those tenants (run --multi-tenant). */
export interface OpsTokenEntry {
  name: string;
  token: string;
  tenants?: readonly string[];
}

/**
 * `alice=token1,bob=token2@t1+t2`: names are what the audit log records; an
 * `@t1+t2` suffix scopes the token to those tenants (multi-tenant mode). The
 * last `@` starts the scope, so a token itself cannot contain `@`.
 */
const namedTokens = z
  .string()
  .transform((raw, ctx) => {
    const tokens: OpsTokenEntry[] = [];
    for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
      const eq = part.indexOf('=');
      const name = eq > 0 ? part.slice(0, eq).trim() : '';
      const value = eq > 0 ? part.slice(eq + 1).trim() : '';
      const at = value.lastIndexOf('@');
      const token = at >= 0 ? value.slice(0, at) : value;
      const scope = at >= 0 ? value.slice(at + 1).split('+') : undefined;
      // Messages name the entry by position or name, never by its token.
      if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(name)) ctx.addIssue({ code: 'custom', message: `entry ${tokens.length + 1} must be name=token or name=token@tenant+tenant with a name of 1–64 letters, digits, _ . @ -` });
      else if (token.length < 16) ctx.addIssue({ code: 'custom', message: `the token of ${name} must be at least 16 characters` });
      else if (/[\s,]/.test(token)) ctx.addIssue({ code: 'custom', message: `the token of ${name} must not contain spaces or commas` });
      else if (scope && !scope.every((t) => TOKEN_TENANT_PATTERN.test(t))) {
        ctx.addIssue({ code: 'custom', message: `the tenants of ${name} (after @) must be tenant ids (${TOKEN_TENANT_PATTERN.source}) joined by +; a token cannot contain @` });
      } else if (tokens.some((t) => t.name === name)) ctx.addIssue({ code: 'custom', message: `the name ${name} is given twice` });
      else if (tokens.some((t) => t.token === token)) ctx.addIssue({ code: 'custom', message: `${name} shares its token with another name: the audit log could not tell them apart` });
      tokens.push({ name, token, ...(scope ? { tenants: Object.freeze([...new Set(scope)].sort()) } : {}) });
    }
    if (tokens.length === 0) ctx.addIssue({ code: 'custom', message: 'must list at least one name=token' });
    return tokens as readonly OpsTokenEntry[];
  });

interface Setting<T> {
  env: string;
  flag: string;
  schema: z.ZodType<T, unknown>;
  default?: T;
  description: string;
  /**
   * The value is a credential or may carry one (a URL's password): never
   * printed in an error, a log line or `--help`. Names that look secret are
   * treated so even without the flag (see isSecretSetting).
   */
  secret?: true;
}

function setting<T>(s: Setting<T>): Setting<T> {
  return s;
}

export const SETTINGS = {
  databaseUrl: setting({ env: 'DATABASE_URL', flag: '--database-url', schema: url(['postgres:', 'postgresql:']), secret: true, description: 'PostgreSQL holding the ledger and the outbox (required).' }),
  controlDatabaseUrl: setting({ env: 'OUTBOX_RELAY_CONTROL_DATABASE_URL', flag: '--control-database-url', schema: url(['postgres:', 'postgresql:']).optional(), secret: true, description: 'PostgreSQL holding the tenant registry (outbox_tenant) for `tenant` commands and `run --multi-tenant`. Defaults to DATABASE_URL.' }),
  listenDatabaseUrl: setting({ env: 'OUTBOX_RELAY_LISTEN_DATABASE_URL', flag: '--listen-database-url', schema: url(['postgres:', 'postgresql:']).optional(), secret: true, description: 'Direct PostgreSQL URL for LISTEN when DATABASE_URL goes through a transaction-pooling PgBouncer. Defaults to DATABASE_URL.' }),
  mongoUrl: setting({ env: 'MONGO_URL', flag: '--mongo-url', schema: url(['mongodb:', 'mongodb+srv:']), secret: true, description: 'MongoDB receiving the metadata documents (required).' }),
  mongoDb: setting({ env: 'MONGO_DB', flag: '--mongo-db', schema: z.string().regex(/^[A-Za-z0-9_-]{1,63}$/, 'must be 1–63 letters, digits, _ or -'), default: 'ledger', description: 'MongoDB database name.' }),
  relayId: setting({ env: 'OUTBOX_RELAY_ID', flag: '--relay-id', schema: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'must be 1–100 of A-Z a-z 0-9 _ . : -').optional(), description: 'This relay\'s id in outbox_relay and claimed_by. Defaults to host-pid-random.' }),
  batchSize: setting({ env: 'OUTBOX_RELAY_BATCH_SIZE', flag: '--batch-size', schema: count(1, 10_000), default: 500, description: 'Events claimed per batch.' }),
  batchMaxBytes: setting({ env: 'OUTBOX_RELAY_BATCH_MAX_BYTES', flag: '--batch-max-bytes', schema: count(1024, 1024 ** 3), default: 2 * 1024 * 1024, description: 'Bytes of JSON one batch may hold: its claim stops at this many bytes of payloads, and the content read for its thin events at as many again (a batch always takes its first event). What bounds the relay\'s memory when documents are large.' }),
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
  retentionHours: setting({ env: 'OUTBOX_RELAY_RETENTION_HOURS', flag: '--retention-hours', schema: hours(0, 24 * 3650), default: 168, description: 'Delivered events are kept this long, then pruned in batches.' }),
  pruneIntervalMs: setting({ env: 'OUTBOX_RELAY_PRUNE_INTERVAL_MS', flag: '--prune-interval-ms', schema: ms(1000, 86_400_000), default: 60_000, description: 'How often one relay (advisory lock) prunes delivered events.' }),
  reconcileEveryMs: setting({ env: 'OUTBOX_RELAY_RECONCILE_EVERY_MS', flag: '--reconcile-every-ms', schema: ms(0, 604_800_000), default: 0, description: 'Periodic reconciliation by one relay at a time (0: off).' }),
  opsHost: setting({ env: 'OUTBOX_RELAY_OPS_HOST', flag: '--ops-host', schema: z.string().min(1), default: '127.0.0.1', description: 'Address of the ops endpoint: /metrics, /healthz, /readyz, the operator API and console (loopback by default).' }),
  opsPort: setting({ env: 'OUTBOX_RELAY_OPS_PORT', flag: '--ops-port', schema: z.union([z.literal('off'), count(0, 65_535)]), default: 9464 as number | 'off', description: 'Port of the ops endpoint; 0 picks a free one, off disables it.' }),
  opsToken: setting({ env: 'OUTBOX_RELAY_OPS_TOKEN', flag: '--ops-token', schema: z.string().min(16, 'must be at least 16 characters').optional(), secret: true, description: 'Bearer token required by the ops endpoint (all but /healthz and the console\'s static page) when set; the audit log names its holder `ops`.' }),
  poolMode: setting({ env: 'OUTBOX_RELAY_POOL_MODE', flag: '--pool-mode', schema: z.enum(['transaction', 'session']), default: 'transaction' as 'transaction' | 'session', description: 'How DATABASE_URL reaches PostgreSQL: transaction (safe behind a transaction-pooling PgBouncer, and everywhere else) or session (direct or session pooling: the hot statements are prepared once per connection).' }),
  opsTokens: setting({ env: 'OUTBOX_RELAY_OPS_TOKENS', flag: '--ops-tokens', schema: namedTokens.optional(), secret: true, description: 'Named bearer tokens, `name=token,name=token`: any of them opens the ops endpoint, and the audit log records the name as the actor. Mutating /api routes are refused while no token is configured. With run --multi-tenant, `name=token@t1+t2` opens only tenants t1 and t2 (403 on any other; scoped tokens are refused at start without --multi-tenant).' }),
  opsRateLimit: setting({ env: 'OUTBOX_RELAY_OPS_RATE_LIMIT', flag: '--ops-rate-limit', schema: count(1, 1_000_000), default: 600, description: 'Requests per minute each client address may make to the ops endpoint (every route); over it: 429 with Retry-After.' }),
  opsLagSampleMs: setting({ env: 'OUTBOX_RELAY_OPS_LAG_SAMPLE_MS', flag: '--ops-lag-sample-ms', schema: ms(1000, 600_000), default: 15_000, description: 'How often the ops endpoint samples outbox_lag for the console\'s last-hour chart (kept in memory: one hour of samples at most); GET /api/lag answers from the newest sample.' }),
  poolSize: setting({ env: 'OUTBOX_RELAY_POOL_SIZE', flag: '--pool-size', schema: count(1, 200), default: 8, description: 'PostgreSQL connections in this relay\'s pool.' }),
  tenantPoolSize: setting({ env: 'OUTBOX_RELAY_TENANT_POOL_SIZE', flag: '--tenant-pool-size', schema: count(1, 50), default: 3, description: 'With run --multi-tenant: PostgreSQL connections per hot tenant\'s pool (idle ones close after 30 s; a cold tenant has at most one, closed between its checks).' }),
  tenantHotHeartbeats: setting({ env: 'OUTBOX_RELAY_TENANT_HOT_HEARTBEATS', flag: '--tenant-hot-heartbeats', schema: count(0, 100_000), default: 12, description: 'With run --multi-tenant: a tenant stays hot (LISTEN connection, warm pool, polled every poll interval) for this many heartbeats after it last had work, then turns cold (no LISTEN, no connection held, polled once per heartbeat) until a poll finds work. 0: every tenant always hot.' }),
  tenantMetricsCap: setting({ env: 'OUTBOX_RELAY_TENANT_METRICS_CAP', flag: '--tenant-metrics-cap', schema: count(0, 10_000), default: 50, description: 'With run --multi-tenant: tenants with their own `tenant` label in /metrics (delivery counters, commit→applied, tenant gauges): the first this process serves, in id order; the rest are counted under tenant="_other".' }),
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

/** Names that look like credentials: a safety net for a setting added without `secret: true`. */
const SECRET_NAME = /URL|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|(^|_)KEY($|_)/i;

/** Whether a setting's value must never be printed. */
export function isSecretSetting(s: Pick<Setting<unknown>, 'env' | 'secret'>): boolean {
  return s.secret === true || SECRET_NAME.test(s.env);
}

/**
 * The secret strings among the given environment and overrides: every value
 * of a secret setting, and the password and credential-like query values of
 * those that are URLs. The CLI scrubs them from whatever it prints, as a last
 * line of defence behind "never put them in a message".
 */
export function secretValues(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): string[] {
  const out = new Set<string>();
  for (const [key, s] of Object.entries(SETTINGS) as [keyof Settings, Setting<unknown>][]) {
    if (!isSecretSetting(s)) continue;
    for (const raw of [overrides[key], env[s.env]]) {
      if (typeof raw !== 'string' || raw.trim() === '') continue;
      out.add(raw);
      out.add(raw.trim());
      for (const part of urlSecrets(raw.trim())) out.add(part);
    }
  }
  // Fragments too short to be a credential would scrub ordinary words.
  return [...out].filter((v) => v.length >= 4);
}

const SECRET_PARAM = /pass|secret|token|key|credential|authmechanismproperties/i;

function urlSecrets(value: string): string[] {
  try {
    const parsed = new URL(value);
    const parts = [parsed.password, decodeURIComponent(parsed.password)];
    for (const [name, v] of parsed.searchParams) if (SECRET_PARAM.test(name)) parts.push(v);
    return parts.filter(Boolean);
  } catch {
    // Unparsable: whatever sits between "user:" and "@" is taken for a password.
    const match = /\/\/[^:@/]*:([^@]*)@/.exec(value);
    return match?.[1] ? [match[1]] : [];
  }
}

/**
 * Resolve and validate. `overrides` are flag values (or a library caller's
 * options) keyed by setting name; they win over the environment. A variable
 * that is set but blank is an error, not "unset": an operator who wrote
 * `OUTBOX_RELAY_BATCH_SIZE=` meant something, and guessing is worse.
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
    const given = fromFlag !== undefined ? fromFlag : fromEnv;
    if (given === undefined) {
      if ('default' in s) {
        out[key] = s.default;
        continue;
      }
      if (required.includes(key)) throw new ConfigError(s.env, `is required: ${s.description}`);
      out[key] = undefined;
      continue;
    }
    if (typeof given === 'string' && given.trim() === '') {
      throw new ConfigError(source, `is set but blank; give a value or unset it${'default' in s ? ` to take the default (${String(s.default)})` : ''}`);
    }
    const raw = typeof given === 'string' ? given.trim() : given;
    const parsed = s.schema.safeParse(raw);
    if (!parsed.success) {
      const reason = [...new Set(parsed.error.issues.flatMap(issueMessages))].join('; ');
      if (isSecretSetting(s)) {
        // Not the value, not a prefix of it, and not a message that quotes it.
        throw new ConfigError(source, `${scrub(reason, [String(raw), ...urlSecrets(String(raw))])} (value not shown: it is secret)`);
      }
      throw new ConfigError(source, `${reason} (got ${JSON.stringify(String(raw)).slice(0, 80)})`);
    }
    out[key] = parsed.data;
  }
  if ((out.backoffMaxMs as number) < (out.backoffBaseMs as number)) {
    throw new ConfigError(SETTINGS.backoffMaxMs.env, `must be at least ${SETTINGS.backoffBaseMs.env} (${String(out.backoffBaseMs)})`);
  }
  // The heartbeat is how often a relay proves it is alive (outbox_relay, the
  // listener probe). A lease that does not outlast two of them runs out under
  // a relay still counted alive: one late beat (a GC pause, a busy event
  // loop) and another relay takes its batch and does it again.
  if ((out.leaseMs as number) < 2 * (out.heartbeatMs as number)) {
    throw new ConfigError(
      SETTINGS.leaseMs.env,
      `must be at least twice ${SETTINGS.heartbeatMs.env} (lease ${String(out.leaseMs)} ms < 2 × heartbeat ${String(out.heartbeatMs)} ms): a relay still alive by its heartbeat would lose its claims; raise the lease or shorten the heartbeat`,
    );
  }
  const named = out.opsTokens as RelayConfig['opsTokens'];
  if (out.opsToken !== undefined && named?.some((t) => t.token === out.opsToken)) {
    throw new ConfigError(SETTINGS.opsTokens.env, `one of its tokens equals ${SETTINGS.opsToken.env}: the audit log could not tell them apart`);
  }
  out.relayId ??= defaultRelayId();
  out.listenDatabaseUrl ??= out.databaseUrl;
  out.controlDatabaseUrl ??= out.databaseUrl;
  return Object.freeze(out) as RelayConfig;
}

/** A union's own message ("Invalid input") says nothing; its branches' do. */
function issueMessages(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const inner = issue.errors.flat().filter((i) => i.code !== 'invalid_type').flatMap(issueMessages);
    if (inner.length > 0) return inner;
  }
  return [issue.message];
}

function scrub(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join('[secret]');
  return out;
}
