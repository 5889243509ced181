import { createHash } from 'node:crypto';
import type { JsonValue, Metadata } from '../types.ts';
import { canonicalJson } from './canonicalJson.ts';

/**
 * sha256 (hex) of the metadata's canonical JSON. Independent of key order, so
 * reconcile can compare what Postgres expects with what MongoDB holds.
 */
export function metadataHash(metadata: Metadata): string {
  return canonicalHash(metadata);
}

/** sha256 (hex) of any JSON value's canonical form (also the idempotency request hash). */
export function canonicalHash(value: JsonValue): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}
