import type { SqlDb } from '../db/sqlDb.ts';
import { UUID_PATTERN } from '../uuid.ts';
import type { RebuildFilter } from './rebuildTypes.ts';

/** Where PostgreSQL keeps one entity type's content, and how to page it in id order. */
export interface RebuildSource {
  aggregateType: string;
  table: string;
  /** The key column, as text; entity_metadata is keyed by (aggregate_type, aggregate_id). */
  idColumn: string;
  versionColumn: string;
  /** SQL predicate selecting this type's rows that have content. */
  scope: string;
  /** The key's SQL type: uuid pages compare as uuid (the primary key's order). */
  idType: 'uuid' | 'text';
}

const LEDGER: Record<string, RebuildSource> = {
  transaction: { aggregateType: 'transaction', table: '"transaction"', idColumn: 'id', versionColumn: 'metadata_version', scope: 'metadata_version > 0', idType: 'uuid' },
  operation: { aggregateType: 'operation', table: 'operation', idColumn: 'id', versionColumn: 'metadata_version', scope: 'metadata_version > 0', idType: 'uuid' },
};

/** The sources a filter covers: the ledger's two types first, then entity_metadata's types by name. */
export async function listRebuildSources(db: SqlDb, filter: RebuildFilter): Promise<RebuildSource[]> {
  const { rows } = await db.query<{ aggregate_type: string }>('SELECT DISTINCT aggregate_type FROM entity_metadata ORDER BY aggregate_type');
  const all: RebuildSource[] = [
    LEDGER.transaction!,
    LEDGER.operation!,
    ...rows.map((r) => ({ aggregateType: r.aggregate_type, table: 'entity_metadata', idColumn: 'aggregate_id', versionColumn: 'version', scope: 'aggregate_type = $1', idType: 'text' as const })),
  ];
  const wanted = filter.types ? new Set(filter.types) : undefined;
  return all.filter((s) => !wanted || wanted.has(s.aggregateType));
}

/** `WHERE` parts and parameters common to counting and paging (parameter $1 is always the aggregate type). */
function conditions(source: RebuildSource, filter: RebuildFilter, params: unknown[]): string[] {
  const where = [source.scope];
  if (filter.since) {
    params.push(filter.since);
    where.push(`updated_at >= $${params.length}`);
  }
  if (filter.ids) {
    const ids = filter.ids.filter((r) => r.aggregateType === source.aggregateType).map((r) => r.aggregateId);
    params.push(source.idType === 'uuid' ? ids.filter((id) => UUID_PATTERN.test(id)) : ids);
    where.push(`${source.idColumn} = ANY($${params.length}::${source.idType}[])`);
  }
  return where;
}

/** Entities in scope, and those among them PostgreSQL holds no content for (pruned before the upgrade). */
export async function countRebuildScope(db: SqlDb, source: RebuildSource, filter: RebuildFilter): Promise<{ total: number; withoutContent: number }> {
  const params: unknown[] = [source.aggregateType];
  const where = conditions(source, filter, params);
  const { rows } = await db.query<{ total: string; without: string }>(
    `SELECT count(*) FILTER (WHERE metadata IS NOT NULL) AS total, count(*) FILTER (WHERE metadata IS NULL) AS without
       FROM ${source.table} WHERE ${where.join(' AND ')} AND ($1::text IS NOT NULL)`,
    params,
  );
  return { total: Number(rows[0]!.total), withoutContent: Number(rows[0]!.without) };
}

/**
 * The next page in id order after `after` (keyset: constant cost per page,
 * whatever the table size), each with its current version. Entities without
 * content are skipped: nothing to write (countRebuildScope reports them).
 */
export async function readRebuildPage(db: SqlDb, source: RebuildSource, filter: RebuildFilter, after: string | null, limit: number): Promise<{ id: string; version: number }[]> {
  const params: unknown[] = [source.aggregateType];
  const where = conditions(source, filter, params);
  where.push('metadata IS NOT NULL');
  if (after !== null) {
    params.push(after);
    where.push(`${source.idColumn} > $${params.length}::${source.idType}`);
  }
  params.push(limit);
  const { rows } = await db.query<{ id: string; version: number }>(
    `SELECT ${source.idColumn}::text AS id, ${source.versionColumn} AS version FROM ${source.table}
      WHERE ${where.join(' AND ')} AND ($1::text IS NOT NULL)
      ORDER BY ${source.idColumn} LIMIT $${params.length}`,
    params,
  );
  return rows;
}
