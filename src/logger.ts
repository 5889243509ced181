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
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const fd = options.fd ?? 2;
  const base = {
    level,
    // Defence in depth: config carries URLs with passwords; never print them.
    redact: { paths: ['databaseUrl', 'listenDatabaseUrl', 'mongoUrl', '*.databaseUrl', '*.listenDatabaseUrl', '*.mongoUrl', 'password', '*.password'], censor: '[redacted]' },
  };
  if (options.pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { destination: fd, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(base, pino.destination({ fd, sync: false }));
}

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
  }
}
