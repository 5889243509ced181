import { ValidationError, type ErrorCode } from '../errors.ts';
import { unsafeStringReason } from './validateMetadata.ts';

export interface TextRule {
  /** Least and most characters (Unicode code points). */
  min: number;
  max: number;
  code: ErrorCode;
}

/**
 * A string stored verbatim: quotes, SQL, newlines and any Unicode are fine
 * (everything is a bind parameter); NUL and lone surrogates are refused
 * because Postgres text cannot hold them as given.
 */
export function validateText(value: unknown, path: string, rule: TextRule): string {
  if (typeof value !== 'string') fail(rule.code, path, `must be a string, got ${value === null ? 'null' : typeof value}`);
  const reason = unsafeStringReason(value);
  if (reason) fail(rule.code, path, reason);
  // Past 2 × max UTF-16 units there are surely more than max code points: skip counting a huge string.
  const length = value.length > rule.max * 2 ? value.length : [...value].length;
  if (length < rule.min) fail(rule.code, path, rule.min === 1 ? 'must not be empty' : `must have at least ${rule.min} characters`);
  if (length > rule.max) fail(rule.code, path, `must have at most ${rule.max} characters`);
  return value;
}

function fail(code: ErrorCode, path: string, message: string): never {
  throw new ValidationError(code, `${path}: ${message}`, { details: { path } });
}
