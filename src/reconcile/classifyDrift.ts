import { metadataHash } from '../metadata/metadataHash.ts';
import type { Metadata } from '../types.ts';

/** What Postgres says MongoDB should hold for one entity. */
export interface ExpectedMetadata {
  id: string;
  version: number;
  hash: string | null;
}

/** The fields of a metadata document reconcile reads. */
export interface StoredMetadata {
  _id: string;
  version?: unknown;
  metadata?: unknown;
}

export type DriftKind = 'missing' | 'stale' | 'mismatched' | 'ahead';

export type DriftVerdict =
  | { drift: false }
  /** `storedVersion`: the document's version as stored (for a version-guarded delete). */
  | { drift: true; kind: DriftKind; reason: string; storedVersion?: unknown };

/**
 * Compare one entity with its document. Content is compared by hash of the
 * canonical JSON, so key order (which jsonb and MongoDB both change) does not
 * matter. A document at a higher version than Postgres knows is reported too
 * ("ahead"): no committed write can produce it, so something else wrote it.
 */
export function classifyDrift(expected: ExpectedMetadata, doc: StoredMetadata | undefined): DriftVerdict {
  if (!doc) return { drift: true, kind: 'missing', reason: `missing (expected v${expected.version})` };
  const version = doc.version;
  if (typeof version !== 'number' || !Number.isFinite(version)) {
    return { drift: true, kind: 'mismatched', reason: `document has no numeric version (expected v${expected.version})`, storedVersion: version };
  }
  if (version < expected.version) return { drift: true, kind: 'stale', reason: `stale (v${version}, expected v${expected.version})`, storedVersion: version };
  if (version > expected.version) return { drift: true, kind: 'ahead', reason: `ahead (v${version}, Postgres has v${expected.version}; restored PostgreSQL? --repair --repair-ahead resets it)`, storedVersion: version };
  const metadata = doc.metadata;
  const hash = metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata) ? metadataHash(metadata as Metadata) : undefined;
  if (hash === undefined || hash !== expected.hash) {
    return { drift: true, kind: 'mismatched', reason: `mismatched content at v${version}`, storedVersion: version };
  }
  return { drift: false };
}
