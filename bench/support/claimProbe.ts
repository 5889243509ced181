/**
 * Claim query latency without stealing rows: EXPLAIN (ANALYZE, BUFFERS) of the
 * claim's SELECT (the CTEs of CLAIM_BATCH_SQL up to `picked`, with their row locks)
 * inside a transaction or savepoint that is rolled back.
 */
import type pg from 'pg';
import { CLAIM_BATCH_SQL } from '../../src/outbox/claimBatch.ts';

// Every CTE up to `siblings` (the row-picking part, whatever its internal shape),
// then `SELECT … FROM picked`: the claim's reads and row locks without its UPDATE.
const PICKING = /^\s*(WITH [\s\S]*?)\n\), siblings AS/;

export function claimSelectSql(batchSize: number): string {
  const match = PICKING.exec(CLAIM_BATCH_SQL);
  if (!match?.[1] || !/\bpicked AS\b/.test(match[1])) throw new Error('bench: could not find the `picked` CTE before `siblings` in CLAIM_BATCH_SQL (did its shape change?)');
  return `${match[1]}\n) SELECT id FROM picked`.replace(/\$1/g, `'bench-probe'`).replace(/\$2/g, String(batchSize)).replace(/\$4/g, `'{}'::text[]`).replace(/\$5/g, String(Number.MAX_SAFE_INTEGER));
}

export interface ClaimProbe {
  /** Median "Execution Time" of the runs, ms. */
  executionMs: number;
  runsMs: number[];
  rows: number;
  sharedHit: number;
  sharedRead: number;
  plan: string;
}

/** `client` must be a dedicated client; `insideTransaction` uses a savepoint instead of BEGIN/ROLLBACK. */
export async function probeClaim(client: pg.PoolClient | pg.Client, options: { batchSize: number; runs?: number; insideTransaction?: boolean }): Promise<ClaimProbe> {
  const sql = `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${claimSelectSql(options.batchSize)}`;
  const runs: number[] = [];
  let last: { Plan: Record<string, unknown>; 'Execution Time': number } | undefined;
  for (let i = 0; i < (options.runs ?? 3); i++) {
    await client.query(options.insideTransaction ? 'SAVEPOINT bench_probe' : 'BEGIN');
    try {
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: Record<string, unknown>; 'Execution Time': number }] }>(sql);
      last = rows[0]?.['QUERY PLAN'][0];
      runs.push(last?.['Execution Time'] ?? Number.NaN);
    } finally {
      await client.query(options.insideTransaction ? 'ROLLBACK TO SAVEPOINT bench_probe' : 'ROLLBACK');
    }
  }
  const sorted = [...runs].sort((a, b) => a - b);
  const plan = last?.Plan ?? {};
  return {
    executionMs: sorted[Math.floor(sorted.length / 2)] ?? Number.NaN,
    runsMs: runs,
    rows: Number(plan['Actual Rows'] ?? 0),
    sharedHit: Number(plan['Shared Hit Blocks'] ?? 0),
    sharedRead: Number(plan['Shared Read Blocks'] ?? 0),
    plan: describePlan(plan),
  };
}

function describePlan(node: Record<string, unknown>, depth = 0): string {
  const name = `${String(node['Node Type'])}${node['Index Name'] ? ` using ${String(node['Index Name'])}` : ''}${node['Relation Name'] && !node['Index Name'] ? ` on ${String(node['Relation Name'])}` : ''}`;
  const children = (node.Plans as Record<string, unknown>[] | undefined) ?? [];
  return [`${'  '.repeat(depth)}${name} (rows ${String(node['Actual Rows'])}, ${String(node['Actual Total Time'])} ms)`, ...children.map((c) => describePlan(c, depth + 1))].join('\n');
}
