import type { JsonValue } from '../types.ts';

/**
 * JSON with object keys sorted (by UTF-16 code units, recursively), so the
 * same content always gives the same text whatever order its keys were
 * written in: Postgres jsonb and MongoDB both reorder keys.
 */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] as JsonValue)}`).join(',')}}`;
}
