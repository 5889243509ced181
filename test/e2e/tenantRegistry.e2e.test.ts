import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertEvents } from '../helpers/outboxFixtures.ts';
import { spawnCli } from '../helpers/relayProcess.ts';
import { createTestDatabases, useTestDatabases, type TestDatabases } from '../helpers/testDatabases.ts';

// The control database is this file's own; two more databases act as tenants.
const control = useTestDatabases();
let tenantA: TestDatabases & { drop: () => Promise<void> };
let tenantB: TestDatabases & { drop: () => Promise<void> };
beforeAll(async () => {
  [tenantA, tenantB] = await Promise.all([createTestDatabases(), createTestDatabases()]);
});
afterAll(async () => {
  await Promise.all([tenantA?.drop(), tenantB?.drop()]);
});

/** The same database with a password in its URL (the server trusts loopback, so any password works). */
function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = 'root';
  parsed.password = password;
  return parsed.toString();
}

async function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  const proc = spawnCli(args, { DATABASE_URL: control().databaseUrl, MONGO_URL: control().mongoUrl, ...extraEnv });
  const { code } = await proc.exited;
  return { code, out: proc.output() };
}

const registered = async () => (await control().pool.query('SELECT id, database_url, database_url_env, mongo_db, paused FROM outbox_tenant ORDER BY id')).rows;

describe('the tenant registry through the CLI', () => {
  it('adds tenants inline and through an environment variable, and list shows neither secret', async () => {
    const secretA = 'hunter2-inline-secret';
    const secretB = 'hunter3-env-secret';
    const a = await cli(['tenant', 'add', 'acme', '--database-url', withPassword(tenantA.databaseUrl, secretA), '--mongo-db', tenantA.mongoDbName]);
    expect(a.code, a.out).toBe(0);
    const b = await cli(['tenant', 'add', 'globex', '--database-url-env', 'GLOBEX_DATABASE_URL'], { GLOBEX_DATABASE_URL: withPassword(tenantB.databaseUrl, secretB) });
    expect(b.code, b.out).toBe(0);
    expect(a.out + b.out).not.toContain(secretA);
    expect(b.out).not.toContain(secretB);
    const rows = await registered();
    expect(rows).toMatchObject([
      { id: 'acme', database_url_env: null, mongo_db: tenantA.mongoDbName, paused: false },
      // The env variant keeps only the variable's name in the table, and the Mongo database defaults to the id.
      { id: 'globex', database_url: null, database_url_env: 'GLOBEX_DATABASE_URL', mongo_db: 'globex', paused: false },
    ]);
    expect(JSON.stringify(rows)).not.toContain(secretB);

    const table = await cli(['tenant', 'list']);
    expect(table.code).toBe(0);
    expect(table.out).not.toContain(secretA);
    expect(table.out).toContain('$GLOBEX_DATABASE_URL');
    const json = await cli(['tenant', 'list', '--json']);
    expect(json.out).not.toContain(secretA);
    const listed = JSON.parse(json.out) as Array<{ id: string; database: string; paused: boolean }>;
    expect(listed.map((t) => t.id)).toEqual(['acme', 'globex']);
    expect(listed[0]?.database).toContain('***');
  });

  it('refuses bad ids, duplicates, bad flag combinations and unreachable databases with typed errors, writing nothing', async () => {
    const before = await registered();
    const badId = await cli(['tenant', 'add', 'Bad Id!', '--database-url', tenantA.databaseUrl]);
    expect(badId.code).toBe(2);
    expect(badId.out).toMatch(/tenant id must be/);
    const both = await cli(['tenant', 'add', 'both', '--database-url', tenantA.databaseUrl, '--database-url-env', 'X']);
    expect(both.code).toBe(2);
    expect(both.out).toMatch(/exactly one of --database-url and --database-url-env/);
    const unsetEnv = await cli(['tenant', 'add', 'unset', '--database-url-env', 'NOT_SET_ANYWHERE']);
    expect(unsetEnv.code).toBe(2);
    expect(unsetEnv.out).toMatch(/NOT_SET_ANYWHERE/);
    const duplicate = await cli(['tenant', 'add', 'acme', '--database-url', tenantB.databaseUrl]);
    expect(duplicate.code).toBe(1);
    expect(duplicate.out).toMatch(/already registered/);
    const secret = 'do-not-print-me';
    const deadPort = new URL(withPassword(tenantA.databaseUrl, secret));
    deadPort.port = '1';
    const unreachable = await cli(['tenant', 'add', 'nowhere', '--database-url', deadPort.toString()]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.out).toMatch(/tenant nowhere: its PostgreSQL is not reachable/);
    expect(unreachable.out).not.toContain(secret);
    const unreachableMongo = await cli(['tenant', 'add', 'nomongo', '--database-url', tenantA.databaseUrl, '--mongo-url', 'mongodb://127.0.0.1:1']);
    expect(unreachableMongo.code).toBe(1);
    expect(unreachableMongo.out).toMatch(/its MongoDB is not reachable/);
    expect(await registered()).toEqual(before);
  });

  it('pauses, resumes and removes; an unknown id is an error', async () => {
    expect((await cli(['tenant', 'pause', 'globex'])).code).toBe(0);
    expect((await registered()).find((r) => r.id === 'globex')?.paused).toBe(true);
    expect((await cli(['tenant', 'resume', 'globex'])).code).toBe(0);
    expect((await registered()).find((r) => r.id === 'globex')?.paused).toBe(false);
    const unknown = await cli(['tenant', 'pause', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.out).toMatch(/no tenant "nobody" is registered/);
    expect((await cli(['tenant', 'remove', 'globex'])).code).toBe(0);
    expect((await registered()).map((r) => r.id)).toEqual(['acme']);
  });

  it('migrate --all-tenants migrates the control database and each tenant, and names a tenant that failed', async () => {
    await cli(['tenant', 'add', 'globex', '--database-url-env', 'GLOBEX_DATABASE_URL'], { GLOBEX_DATABASE_URL: tenantB.databaseUrl });
    const ok = await cli(['migrate', '--all-tenants'], { GLOBEX_DATABASE_URL: tenantB.databaseUrl });
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toMatch(/tenant acme: migrations applied/);
    expect(ok.out).toMatch(/2 of 2 tenants migrated/);
    // Without the variable in its environment, globex cannot be reached: reported, never another database used.
    const missing = await cli(['migrate', '--all-tenants']);
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/tenant globex: migration failed: environment variable GLOBEX_DATABASE_URL/);
    expect(missing.out).toMatch(/1 of 2 tenants migrated/);
  });

  it('dead list/requeue and reconcile --tenant work on that tenant\'s own databases', async () => {
    const [eventId] = await insertEvents(tenantA.pool, [{ aggregateId: 'tenant-dead', version: 1, metadata: { a: 1 } }]);
    await tenantA.pool.query(`UPDATE outbox SET status = 'dead', attempts = 10, last_error = 'poison' WHERE event_id = $1`, [eventId]);
    const listed = await cli(['dead', 'list', '--tenant', 'acme', '--json']);
    expect(listed.code, listed.out).toBe(0);
    expect((JSON.parse(listed.out) as Array<{ eventId: string }>).map((d) => d.eventId)).toEqual([eventId]);
    // The control database (DATABASE_URL) has no dead events: --tenant really read the tenant's.
    expect(JSON.parse((await cli(['dead', 'list', '--json'])).out)).toEqual([]);
    const requeued = await cli(['dead', 'requeue', '--tenant', 'acme', '--all']);
    expect(requeued.out).toMatch(/requeued 1/);
    const report = await cli(['reconcile', '--tenant', 'acme', '--json', '--check', 'double-entry']);
    expect(report.code, report.out).toBe(0);
    // stdout and stderr (log lines) are interleaved in out: look for the report's own field.
    expect(report.out).toMatch(/^  "ok": true,$/m);
    const unknown = await cli(['dead', 'list', '--tenant', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.out).toMatch(/no tenant "nobody" is registered/);
  });
  it('registers a listen URL inline or through a variable, never prints it, and refuses bad listen input writing nothing', async () => {
    const listenRows = async () => (await control().pool.query('SELECT id, listen_database_url, listen_database_url_env FROM outbox_tenant ORDER BY id')).rows;
    const secret = 'listen-secret-inline';
    const inline = await cli(['tenant', 'add', 'initech', '--database-url', tenantA.databaseUrl, '--listen-database-url', withPassword(tenantA.databaseUrl, secret), '--mongo-db', 'initech']);
    expect(inline.code, inline.out).toBe(0);
    expect(inline.out).not.toContain(secret);
    const viaEnv = await cli(['tenant', 'add', 'umbrella', '--database-url', tenantB.databaseUrl, '--listen-database-url-env', 'UMBRELLA_LISTEN_URL'], { UMBRELLA_LISTEN_URL: withPassword(tenantB.databaseUrl, 'listen-secret-env') });
    expect(viaEnv.code, viaEnv.out).toBe(0);
    const rows = await listenRows();
    expect(rows.find((r) => r.id === 'umbrella')).toEqual({ id: 'umbrella', listen_database_url: null, listen_database_url_env: 'UMBRELLA_LISTEN_URL' });
    expect(rows.find((r) => r.id === 'initech')?.listen_database_url).toContain(secret);
    expect(JSON.stringify(rows)).not.toContain('listen-secret-env');
    const table = await cli(['tenant', 'list']);
    expect(table.out).not.toContain(secret);
    expect(table.out).toContain('listen $UMBRELLA_LISTEN_URL');
    const json = await cli(['tenant', 'list', '--json']);
    expect(json.out).not.toContain(secret);
    const listed = JSON.parse(json.out) as Array<{ id: string; listen: string }>;
    expect(Object.fromEntries(listed.map((t) => [t.id, t.listen]))).toMatchObject({ acme: '(database URL)', umbrella: '$UMBRELLA_LISTEN_URL' });
    expect(listed.find((t) => t.id === 'initech')?.listen).toContain('***');

    const before = await listenRows();
    const both = await cli(['tenant', 'add', 'both', '--database-url', tenantA.databaseUrl, '--listen-database-url', tenantA.databaseUrl, '--listen-database-url-env', 'X']);
    expect(both.code).toBe(2);
    expect(both.out).toMatch(/at most one of --listen-database-url and --listen-database-url-env/);
    const badName = await cli(['tenant', 'add', 'badname', '--database-url', tenantA.databaseUrl, '--listen-database-url-env', 'not a name']);
    expect(badName.code).toBe(2);
    expect(badName.out).toMatch(/is not an environment variable name/);
    const unset = await cli(['tenant', 'add', 'unset', '--database-url', tenantA.databaseUrl, '--listen-database-url-env', 'LISTEN_NOT_SET_ANYWHERE']);
    expect(unset.code).toBe(2);
    expect(unset.out).toMatch(/LISTEN_NOT_SET_ANYWHERE \(its listen URL\) is not set/);
    const notPostgres = await cli(['tenant', 'add', 'notpg', '--database-url', tenantA.databaseUrl, '--listen-database-url', 'mysql://127.0.0.1/x']);
    expect(notPostgres.code).toBe(2);
    expect(notPostgres.out).toMatch(/its listen URL is not a postgres:\/\/ URL/);
    const deadPort = new URL(withPassword(tenantA.databaseUrl, 'dead-port-secret'));
    deadPort.port = '1';
    const unreachable = await cli(['tenant', 'add', 'deaf', '--database-url', tenantA.databaseUrl, '--listen-database-url', deadPort.toString()]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.out).toMatch(/tenant deaf: its listen URL is not reachable/);
    expect(unreachable.out).not.toContain('dead-port-secret');
    // A listen URL on another database would never hear this tenant's NOTIFY.
    const elsewhere = await cli(['tenant', 'add', 'elsewhere', '--database-url', tenantA.databaseUrl, '--listen-database-url', tenantB.databaseUrl]);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.out).toMatch(/both must be the same database/);
    expect(await listenRows()).toEqual(before);
  });
});
