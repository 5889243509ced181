import { createHash } from 'node:crypto';
import type { Metadata } from '../types.ts';
import { canonicalJson } from './canonicalJson.ts';

/**
 * sha256 (hex) of the metadata's canonical JSON. Independent of key order, so
 * reconcile can compare what Postgres expects with what MongoDB holds.
 */
export function metadataHash(metadata: Metadata): string {
  return createHash('sha256').update(canonicalJson(metadata)).digest('hex');
}
