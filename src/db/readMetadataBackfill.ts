import pg from 'pg';

export interface MetadataBackfill {
  aggregateType: string;
  filled: number;
  /** Entities with metadata no retained payload held when the upgrade ran (pruned): PostgreSQL has no content for them. */
  missing: number;
  ranAt: Date;
}

/**
 * What the upgrade to PostgreSQL-held metadata (migration 0009) filled, per
 * entity type; empty before it ran. `migrate` prints it when the migration
 * ran in that call; reconcile's metadata-content check reports what is
 * still missing now.
 */
export async function readMetadataBackfill(databaseUrl: string): Promise<MetadataBackfill[]> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'outbox-relay-migrate' });
  await client.connect();
  try {
    const { rows } = await client.query<{ aggregate_type: string; filled: string; missing: string; ran_at: Date }>(
      'SELECT aggregate_type, filled, missing, ran_at FROM metadata_backfill ORDER BY aggregate_type DESC',
    );
    return rows.map((r) => ({ aggregateType: r.aggregate_type, filled: Number(r.filled), missing: Number(r.missing), ranAt: r.ran_at }));
  } finally {
    await client.end();
  }
}
