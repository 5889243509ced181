import { userInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { spawnCli } from '../helpers/relayProcess.ts';
import { useTestDatabases } from '../helpers/testDatabases.ts';
import { insertDead } from '../int/control/controlFixtures.ts';

const t = useTestDatabases();

async function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  const proc = spawnCli(args, { DATABASE_URL: t().databaseUrl, MONGO_URL: t().mongoUrl, MONGO_DB: t().mongoDbName });
  const { code } = await proc.exited;
  return { code, out: proc.output() };
}

const actor = `cli:${userInfo().username}`;

describe('the command line: pause, resume, audit', () => {
  // Each command is a Node process that loads the CLI: a few, not one per case (e2e time on CI).
  it('pause and resume the fleet and one type, durably, each with its audit row; status shows the pause', async () => {
    const paused = await cli(['pause', '--reason', 'MongoDB upgrade']);
    expect(paused.code).toBe(0);
    expect(paused.out).toMatch(/paused the whole fleet/);
    expect((await cli(['pause', '--type', 'operation', '--reason', 'reindex'])).code).toBe(0);

    const status = await cli(['status']);
    expect(status.out).toMatch(/PAUSED whole fleet by cli:\S+ .*: MongoDB upgrade/);
    expect(status.out).toMatch(/PAUSED type operation by cli:\S+ .*: reindex/);

    expect((await cli(['resume', '--reason', 'upgrade done'])).out).toMatch(/resumed the whole fleet/);
    expect((await cli(['resume', '--type', 'operation', '--reason', 'reindex done'])).code).toBe(0);
    expect((await t().pool.query('SELECT count(*)::int AS n FROM relay_pause')).rows[0].n).toBe(0);

    const audit = JSON.parse((await cli(['audit', '--json'])).out) as { actor: string; action: string; target: string; reason: string }[];
    expect(audit.map((a) => [a.actor, a.action, a.target, a.reason])).toEqual([
      [actor, 'resume', 'operation', 'reindex done'],
      [actor, 'resume', '*', 'upgrade done'],
      [actor, 'pause', 'operation', 'reindex'],
      [actor, 'pause', '*', 'MongoDB upgrade'],
    ]);
  });

  it('refuses pause without --reason or with a bad --type, writing nothing', async () => {
    const auditCount = async () => (await t().pool.query(`SELECT count(*)::int AS n FROM audit_log`)).rows[0].n as number;
    const before = await auditCount();
    expect((await cli(['pause'])).code).toBe(2);
    expect((await cli(['pause', '--reason', '  '])).code).toBe(2);
    const badType = await cli(['pause', '--type', 'Robert; DROP', '--reason', 'x']);
    expect(badType.code).toBe(2);
    expect(badType.out).toMatch(/--type takes an aggregate type/);
    expect((await cli(['audit', '--limit', '0'])).code).toBe(2);
    expect((await t().pool.query(`SELECT count(*)::int AS n FROM relay_pause`)).rows[0].n).toBe(0);
    expect(await auditCount()).toBe(before);
  });

  it('dead requeue and reconcile --repair are audited', async () => {
    const eventId = await insertDead(t().pool);
    expect((await cli(['dead', 'requeue', eventId, '--reason', 'fixed the mapping'])).code).toBe(0);
    const repair = await cli(['reconcile', '--repair', '--check', 'metadata-sync', '--reason', 'restored from backup']);
    expect(repair.code, repair.out).toBe(0);
    const { rows } = await t().pool.query(`SELECT actor, action, target, reason FROM audit_log WHERE action IN ('requeue', 'repair') ORDER BY id`);
    expect(rows).toEqual([
      { actor, action: 'requeue', target: eventId, reason: 'fixed the mapping' },
      { actor, action: 'repair', target: 'reconcile --repair', reason: 'restored from backup' },
    ]);
  });
});
