import type { SqlDb } from '../../db/sqlDb.ts';

/**
 * Entities retried automatically (outbox_parked.replaying) whose rows were
 * just delivered are parked no more. Runs only for batches that held such
 * rows, so the happy path never writes here.
 */
export async function forgetReplayed(db: SqlDb, entities: readonly { aggregateType: string; aggregateId: string }[]): Promise<number> {
  if (entities.length === 0) return 0;
  const { rowCount } = await db.query({
    text: `DELETE FROM outbox_parked p USING unnest($1::text[], $2::text[]) AS e(aggregate_type, aggregate_id)
            WHERE p.aggregate_type = e.aggregate_type AND p.aggregate_id = e.aggregate_id AND p.replaying`,
    values: [entities.map((e) => e.aggregateType), entities.map((e) => e.aggregateId)],
  });
  return rowCount ?? 0;
}
