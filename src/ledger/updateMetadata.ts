import sql from 'sql-template-tag';
import type { DbLike } from '../db/toSqlDb.ts';
import { NotFoundError } from '../errors.ts';
import { metadataHash } from '../metadata/metadataHash.ts';
import { validateMetadata } from '../metadata/validateMetadata.ts';
import { insertOutboxRows, thinOutboxRow } from '../outbox/enqueue.ts';
import type { Metadata } from '../types.ts';
import { runInTransaction } from './runInTransaction.ts';
import { UUID_PATTERN } from '../uuid.ts';


/**
 * Replace a transaction's metadata: bump its metadata version, store the
 * new content and hash, and queue the event for that version, atomically. Throws
 * `NotFoundError('UNKNOWN_TRANSACTION')` for an unknown id.
 */
export function updateTransactionMetadata(db: DbLike, transactionId: string, metadata: Metadata): Promise<{ version: number }> {
  return updateMetadata(db, 'transaction', transactionId, metadata);
}

/**
 * Replace an operation's metadata, as `updateTransactionMetadata` does for a
 * transaction. Throws `NotFoundError('UNKNOWN_TRANSACTION')` for an unknown id.
 */
export function updateOperationMetadata(db: DbLike, operationId: string, metadata: Metadata): Promise<{ version: number }> {
  return updateMetadata(db, 'operation', operationId, metadata);
}

async function updateMetadata(db: DbLike, aggregateType: 'transaction' | 'operation', id: string, metadata: Metadata): Promise<{ version: number }> {
  const clean = validateMetadata(metadata);
  // Not a UUID cannot exist; answering "not found" beats a Postgres cast error.
  if (typeof id !== 'string' || !UUID_PATTERN.test(id)) throw notFound(aggregateType, id);
  const hash = metadataHash(clean);
  const json = JSON.stringify(clean);
  return runInTransaction(db, async (tx) => {
    // The UPDATE takes the row lock, so concurrent updates get consecutive
    // versions and each event carries the version its hash belongs to.
    const updated = await tx.query<{ id: string; metadata_version: number }>(
      aggregateType === 'transaction'
        ? sql`UPDATE "transaction" SET metadata_version = metadata_version + 1, metadata_hash = ${hash}, metadata = ${json}::jsonb, updated_at = now() WHERE id = ${id}::uuid RETURNING id::text, metadata_version`
        : sql`UPDATE operation SET metadata_version = metadata_version + 1, metadata_hash = ${hash}, metadata = ${json}::jsonb, updated_at = now() WHERE id = ${id}::uuid RETURNING id::text, metadata_version`,
    );
    const row = updated.rows[0];
    if (!row) throw notFound(aggregateType, id);
    // row.id, not the argument: Postgres spells the uuid the way the document _id must be spelled.
    // A thin event: the content is in the row just updated, read at delivery.
    await insertOutboxRows(tx, [thinOutboxRow(aggregateType, row.id, row.metadata_version)]);
    return { version: row.metadata_version };
  });
}

function notFound(aggregateType: 'transaction' | 'operation', id: unknown): NotFoundError {
  return new NotFoundError(aggregateType === 'operation' ? 'UNKNOWN_OPERATION' : 'UNKNOWN_TRANSACTION', `no ${aggregateType} with id ${JSON.stringify(id) ?? String(id)}`, { details: { aggregateType, id } });
}
