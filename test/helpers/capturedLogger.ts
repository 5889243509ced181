import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from '../../src/logger.ts';

/** A pino logger at `warn` whose lines (raw JSON text, one per entry) land in `lines`. */
export function capturedLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }));
  return { logger, lines };
}
