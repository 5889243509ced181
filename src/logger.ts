import { pino, type Logger } from 'pino';

export type { Logger };

/** A library default is silent; the CLI builds a real one. */
export const silentLogger: Logger = pino({ level: 'silent' });

export interface LoggerOptions {
  level?: string;
  /** Human-readable output (pino-pretty) instead of JSON lines. */
  pretty?: boolean;
  /** Destination file descriptor; defaults to stderr so stdout stays for command output. */
  fd?: number;
  /**
   * Secret strings (passwords, tokens) to cut out of every line written,
   * wherever they ended up: an error message a driver built from a URL, a
   * field nobody thought to redact. Redaction by path comes first; this is
   * the net under it.
   */
  secrets?: readonly string[];
}

/** Fields that hold credentials or whole URLs, at the top level and one level down. */
const REDACT_KEYS = ['databaseUrl', 'listenDatabaseUrl', 'mongoUrl', 'opsToken', 'password', 'token', 'authorization', 'connectionString'];
export const REDACT_PATHS: readonly string[] = [...REDACT_KEYS, ...REDACT_KEYS.map((k) => `*.${k}`), 'req.headers.authorization', 'headers.authorization'];

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const fd = options.fd ?? 2;
  const secrets = (options.secrets ?? []).filter((s) => s.length > 0);
  const base = {
    level,
    // Defence in depth: config carries URLs with passwords; never print them.
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    // A secret inside a string (an error message) is out of reach of paths.
    // JSON escaping could split a secret holding quotes or backslashes, so
    // both spellings are cut.
    ...(secrets.length > 0 ? { hooks: { streamWrite: (line: string) => scrubSecrets(line, secrets) } } : {}),
  };
  if (options.pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { destination: fd, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(base, pino.destination({ fd, sync: false }));
}

/** Replace every occurrence of each secret (as written, and as JSON escapes it) with `[redacted]`. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    out = out.split(secret).join('[redacted]');
    const escaped = JSON.stringify(secret).slice(1, -1);
    if (escaped !== secret) out = out.split(escaped).join('[redacted]');
  }
  return out;
}

/** `postgres://user:secret@host/db?password=x` → `postgres://user:***@host/db?password=***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    // node-postgres and the MongoDB driver both read credentials from the query too.
    for (const name of [...parsed.searchParams.keys()]) if (/pass|secret|token|key|credential|authmechanismproperties/i.test(name)) parsed.searchParams.set(name, '***');
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
  }
}
