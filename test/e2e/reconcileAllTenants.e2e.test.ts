/**
 * `reconcile --all-tenants` as a separate process over three registered
 * tenants: one clean, one drifted (a MongoDB document without its entity),
 * one unreachable. Each tenant is reconciled against its own databases; the
 * exit code says the worst: 1 any drift, 2 any tenant could not be reconciled.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCli } from '../helpers/relayProcess.ts';
import { createTestDatabases, useTestDatabases, type TestDatabases } from '../helpers/testDatabases.ts';

type Tenant = TestDatabases & { drop: () => Promise<void> };
const control = useTestDatabases();
let clean: Tenant;
let drifted: Tenant;

const env = () => ({ DATABASE_URL: control().databaseUrl, MONGO_URL: control().mongoUrl, OUTBOX_RELAY_LOG_LEVEL: 'warn' });

async function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  const proc = spawnCli(args, env());
  const { code } = await proc.exited;
  return { code, out: proc.output() };
}

interface JsonOutcome {
  tenants: { id: string; outcome: 'clean' | 'drift' | 'error'; error?: string; report?: { ok: boolean; checks: Record<string, { problems: number; samples: string[] }> } }[];
  summary: { clean: number; drift: number; error: number };
}

beforeAll(async () => {
  [clean, drifted] = await Promise.all([createTestDatabases(), createTestDatabases()]);
  for (const [id, t] of [['clean', clean], ['drifted', drifted]] as const) {
    const added = await cli(['tenant', 'add', id, '--database-url', t.databaseUrl, '--mongo-db', t.mongoDbName]);
    expect(added.code, added.out).toBe(0);
  }
  // Drift only in the drifted tenant's MongoDB database: a document whose transaction does not exist.
  await drifted.mongoDb.collection<{ _id: string }>('transaction_metadata').insertOne({ _id: '00000000-0000-4000-8000-00000000d1f7' });
});
afterAll(async () => {
  await Promise.all([clean?.drop(), drifted?.drop()]);
});

describe('reconcile --all-tenants', () => {
  it('reconciles each tenant against its own databases: a per-tenant summary, exit 1 when one drifted', async () => {
    const { code, out } = await cli(['reconcile', '--all-tenants']);
    expect(out).toMatch(/^tenant clean\s+clean\s+7 checks/m);
    expect(out).toMatch(/^tenant drifted\s+DRIFT\s+orphan-documents: 1/m);
    expect(out).toContain('2 tenants: 1 clean, 1 drifted, 0 could not be reconciled');
    expect(code, out).toBe(1);
  });

  it('--tenant <id> reconciles one registered tenant (the drifted one: exit 1; the clean one: exit 0)', async () => {
    const drift = await cli(['reconcile', '--tenant', 'drifted', '--check', 'orphan-documents']);
    expect(drift.out).toContain('00000000-0000-4000-8000-00000000d1f7');
    expect(drift.code, drift.out).toBe(1);
    const ok = await cli(['reconcile', '--tenant', 'clean']);
    expect(ok.code, ok.out).toBe(0);
  });

  it('an unreachable tenant is reported with its reason and makes the exit 2; the others still run (--json)', async () => {
    const bad = new URL(clean.databaseUrl);
    bad.port = '1';
    bad.password = 'hunter2-secret';
    // `tenant add` refuses an unreachable database: the row is written as a moved database would leave it.
    await control().pool.query(`INSERT INTO outbox_tenant (id, database_url, mongo_db) VALUES ('gone', $1, 'gone')`, [bad.toString()]);
    try {
      const { code, out } = await cli(['reconcile', '--all-tenants', '--json']);
      expect(code, out).toBe(2);
      expect(out).not.toContain('hunter2-secret');
      const result = JSON.parse(out.slice(out.indexOf('{'))) as JsonOutcome;
      expect(result.tenants.map((t) => [t.id, t.outcome])).toEqual([
        ['clean', 'clean'],
        ['drifted', 'drift'],
        ['gone', 'error'],
      ]);
      expect(result.tenants[2]?.error).toMatch(/ECONNREFUSED|connect/);
      expect(result.tenants[1]?.report?.checks['orphan-documents']?.problems).toBe(1);
      expect(result.summary).toEqual({ clean: 1, drift: 1, error: 1 });
    } finally {
      await control().pool.query(`DELETE FROM outbox_tenant WHERE id = 'gone'`);
    }
  });

  it('refuses --tenant together with --all-tenants (exit 2)', async () => {
    const { code, out } = await cli(['reconcile', '--all-tenants', '--tenant', 'clean']);
    expect(out).toContain('not both');
    expect(code).toBe(2);
  });
});
