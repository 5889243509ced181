/**
 * The posting as it was written before PostgreSQL kept metadata content
 * (before issue 12): the content only in the outbox payload, the entity rows
 * with version and hash only. Kept here, verbatim but for the test hooks
 * (the idempotency lookup is kept: it is a round trip of its own), so the
 * writer-overhead scenario can measure "before" and "after" side by side in
 * one run, on one schema. Not product code.
 */
import { randomUUID } from 'node:crypto';
import sql, { empty } from 'sql-template-tag';
import type { DbLike } from '../../src/db/toSqlDb.ts';
import { applyEntries } from '../../src/ledger/applyEntries.ts';
import { findPosting } from '../../src/ledger/findPosting.ts';
import { lockBalances } from '../../src/ledger/lockBalances.ts';
import { runInTransaction } from '../../src/ledger/runInTransaction.ts';
import { validatePostingRequest } from '../../src/ledger/validatePostingRequest.ts';
import { metadataHash } from '../../src/metadata/metadataHash.ts';
import { buildOutboxRow, outboxInsert, type OutboxRow } from '../../src/outbox/enqueue.ts';
import type { Metadata, PostingRequest } from '../../src/types.ts';

export async function postWithPayloadEvents(db: DbLike, request: PostingRequest): Promise<string> {
  const posting = validatePostingRequest(request);
  const earlier = await findPosting(db, posting.idempotencyKey, posting.requestHash);
  if (earlier.kind !== 'none') throw new Error(`payloadPosting: idempotency key ${posting.idempotencyKey} used before`);
  return runInTransaction(db, async (tx) => {
    const balances = await lockBalances(tx, posting.entries);
    const { operations, changes } = applyEntries(balances, posting.entries);
    await tx.query(sql`
      UPDATE balance AS b
      SET available = c.available, version = b.version + c.operations, updated_at = now()
      FROM unnest(${changes.map((c) => c.id)}::uuid[], ${changes.map((c) => c.available.toString())}::bigint[],
                  ${changes.map((c) => c.operations)}::int[]) AS c(id, available, operations)
      WHERE b.id = c.id`);
    const transactionId = randomUUID();
    const operationIds = posting.entries.map(() => randomUUID());
    const txMeta = metadataColumns(posting.metadata);
    const entries = posting.entries;
    const entryMeta = entries.map((e) => metadataColumns(e.metadata));
    const events: OutboxRow[] = [];
    if (posting.metadata) events.push(buildOutboxRow({ aggregateType: 'transaction', aggregateId: transactionId, version: 1, payload: { metadata: posting.metadata } }));
    entries.forEach((entry, i) => {
      if (entry.metadata) events.push(buildOutboxRow({ aggregateType: 'operation', aggregateId: operationIds[i] as string, version: 1, payload: { metadata: entry.metadata } }));
    });
    await tx.query(sql`
      WITH inserted_transaction AS (
        INSERT INTO "transaction" (id, idempotency_key, request_hash, description, metadata_version, metadata_hash)
        VALUES (${transactionId}, ${posting.idempotencyKey}, ${posting.requestHash}, ${posting.description}, ${txMeta.version}, ${txMeta.hash})
      ), inserted_operations AS (
        INSERT INTO operation (id, transaction_id, balance_id, entry_index, account, asset, direction, amount, balance_before, balance_after, metadata_version, metadata_hash)
        SELECT o.id, ${transactionId}::uuid, o.balance_id, o.entry_index, o.account, o.asset, o.direction, o.amount, o.balance_before, o.balance_after, o.metadata_version, o.metadata_hash
        FROM unnest(
          ${operationIds}::uuid[], ${operations.map((o) => o.balanceId)}::uuid[], ${operations.map((o) => o.entryIndex)}::int[],
          ${entries.map((e) => e.account)}::text[], ${entries.map((e) => e.asset)}::text[], ${entries.map((e) => e.direction)}::text[],
          ${entries.map((e) => e.amount.toString())}::bigint[], ${operations.map((o) => o.balanceBefore.toString())}::bigint[],
          ${operations.map((o) => o.balanceAfter.toString())}::bigint[], ${entryMeta.map((m) => m.version)}::int[],
          ${entryMeta.map((m) => m.hash)}::text[]
        ) AS o(id, balance_id, entry_index, account, asset, direction, amount, balance_before, balance_after, metadata_version, metadata_hash)
      )${events.length > 0 ? sql`, inserted_events AS (${outboxInsert(events)})` : empty}
      SELECT 1`);
    return transactionId;
  });
}

function metadataColumns(metadata: Metadata | null): { version: number; hash: string | null } {
  return metadata ? { version: 1, hash: metadataHash(metadata) } : { version: 0, hash: null };
}
