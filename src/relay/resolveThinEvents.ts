import type { SqlDb } from '../db/sqlDb.ts';
import { entityKey, readMetadataContent } from '../metadata/readMetadataContent.ts';
import type { SinkEvent } from '../sink/metadataSink.ts';
import type { OutboxEvent } from '../types.ts';

export interface ResolvedEvents<E extends OutboxEvent> {
  /** Every event that can go to the sink, each with its content. */
  ready: (E & SinkEvent)[];
  /** eventId → why it cannot (no content in PostgreSQL). */
  unresolved: Map<string, string>;
  /** Thin events whose content is past the byte bound: give them back for a later batch (not a failure). */
  deferred: E[];
}

/**
 * Give thin events (payload NULL) their content: the entity's NEWEST version
 * and metadata from PostgreSQL, read now. Carrying a newer version than the
 * event named is what an in-order apply ends with anyway (the events between
 * are fenced out or collapsed), and it is why a thin event never needs the
 * content of the moment it was written. Events with a payload pass unchanged.
 *
 * `maxBytes` bounds the content read for one batch, as the claim bounds
 * payloads (claimBatch): events whose entity's content is past it are
 * `deferred`. Events of one entity share its content, so all or none of them are.
 */
export async function resolveThinEvents<E extends OutboxEvent>(db: SqlDb, events: readonly E[], options: { maxBytes?: number } = {}): Promise<ResolvedEvents<E>> {
  const thin = events.filter((e) => e.payload === null || e.payload === undefined);
  const unresolved = new Map<string, string>();
  const deferred: E[] = [];
  if (thin.length === 0) return { ready: events as (E & SinkEvent)[], unresolved, deferred };
  const content = options.maxBytes === undefined ? await readMetadataContent(db, thin) : await readMetadataContent(db, thin, { maxBytes: options.maxBytes });
  const ready: (E & SinkEvent)[] = [];
  for (const event of events) {
    if (event.payload) {
      ready.push(event as E & SinkEvent);
      continue;
    }
    const stored = content.get(entityKey(event));
    if (!stored) {
      unresolved.set(event.eventId, `no metadata content in PostgreSQL for ${entityKey(event)} (thin event)`);
      continue;
    }
    if (stored.metadata === null) {
      deferred.push(event);
      continue;
    }
    ready.push({ ...event, version: Math.max(stored.version, event.version), payload: { metadata: stored.metadata } });
  }
  return { ready, unresolved, deferred };
}
