/**
 * The operator API of `run --multi-tenant`: two replicas, three tenants, on
 * the real databases. Each request is sent to both replicas (the one holding
 * the tenant and the one that does not), so every answer is proven to come
 * from the tenant's database or the control database, never from the
 * answering replica's memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLag } from '../../../src/outbox/readLag.ts';
import { createMultiTenantRelay, type MultiTenantRelay } from '../../../src/runtime/multiTenantRelay.ts';
import { insertEvents } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { createTestDatabases, useTestDatabases, type TestDatabases } from '../../helpers/testDatabases.ts';
import { sleep, waitFor } from '../../helpers/waitFor.ts';
import { auditRows, call, insertDead, type Answer } from './controlFixtures.ts';

type Tenant = TestDatabases & { drop: () => Promise<void> };
const ROOT = 'root-token-0123456789abcdef';
const ALPHA = 'alpha-token-0123456789abcdef';
const PAIR = 'pair-token-0123456789abcdef0';
const TOKENS = `root=${ROOT},alpha=${ALPHA}@t1,pair=${PAIR}@t1+t2`;
const HEARTBEAT_MS = 500;
const ids = ['t1', 't2', 't3'] as const;
const control = useTestDatabases();
const tenant: Record<string, Tenant> = {};
const replicas: MultiTenantRelay[] = [];

function replica(relayId: string, overrides: Parameters<typeof testRelayConfig>[1] = {}): MultiTenantRelay {
  const r = createMultiTenantRelay(
    testRelayConfig(control(), { relayId, opsPort: 0, opsTokens: TOKENS, opsRateLimit: 100_000, opsLagSampleMs: 1000, heartbeatMs: HEARTBEAT_MS, ...overrides }),
  );
  replicas.push(r);
  return r;
}

const holders = async () =>
  Object.fromEntries((await control().pool.query<{ id: string; owner: string | null }>(`SELECT id, CASE WHEN lease_expires_at > now() THEN owner END AS owner FROM outbox_tenant`)).rows.map((r) => [r.id, r.owner]));

/** [url of the replica holding the tenant, url of the other one]. */
async function holderAndOther(id: string): Promise<[string, string]> {
  const owner = (await holders())[id];
  const [a, b] = replicas as [MultiTenantRelay, MultiTenantRelay];
  return owner === a.id ? [a.opsUrl as string, b.opsUrl as string] : [b.opsUrl as string, a.opsUrl as string];
}

const urls = () => replicas.slice(0, 2).map((r) => r.opsUrl as string);

beforeAll(async () => {
  const created = await Promise.all(ids.map(() => createTestDatabases()));
  for (const [i, id] of ids.entries()) {
    const t = created[i] as Tenant;
    tenant[id] = t;
    await control().pool.query(`INSERT INTO outbox_tenant (id, database_url, mongo_url, mongo_db) VALUES ($1, $2, $3, $4)`, [id, t.databaseUrl, t.mongoUrl, t.mongoDbName]);
  }
  await Promise.all([replica('replica-a').start(), replica('replica-b').start()]);
  // Every tenant held, and sampled into the control database by its holder.
  await waitFor(async () => {
    const { rows } = await control().pool.query(`SELECT count(*)::int AS n FROM outbox_tenant WHERE lease_expires_at > now() AND lag_sample IS NOT NULL`);
    return rows[0].n === 3;
  }, { timeoutMs: 30_000, message: 'three tenants held and sampled' });
}, 60_000);
afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await Promise.all(Object.values(tenant).map((t) => t.drop()));
});

const ROUTES: { method: 'GET' | 'POST'; path: string; body?: unknown; ok: number }[] = [
  { method: 'GET', path: '/api/lag', ok: 200 },
  { method: 'GET', path: '/api/dead', ok: 200 },
  { method: 'GET', path: '/api/audit', ok: 200 },
  { method: 'GET', path: '/api/reconcile', ok: 200 },
  { method: 'POST', path: '/api/dead/requeue', body: { all: true, reason: 'scope test' }, ok: 200 },
  { method: 'POST', path: '/api/pause', body: { type: 'scope_probe', reason: 'scope test' }, ok: 200 },
  { method: 'POST', path: '/api/resume', body: { type: 'scope_probe', reason: 'scope test' }, ok: 200 },
  { method: 'POST', path: '/api/reconcile', body: { checks: ['outbox-health'] }, ok: 202 },
];

const send = (base: string, route: (typeof ROUTES)[number], id: string, token: string): Promise<Answer> =>
  call(base, `${route.path}?tenant=${id}`, { token, ...(route.method === 'POST' ? { body: route.body } : {}) });

describe('multi-tenant operator API', () => {
  it('GET /api/tenants: every tenant with its state, figures and holder, from the control database, on either replica; a scoped token sees only its tenants', async () => {
    const owners = await holders();
    for (const base of urls()) {
      const all = await call(base, '/api/tenants', { token: ROOT });
      expect(all.status).toBe(200);
      expect(all.body.tenants.map((t: { id: string }) => t.id).sort()).toEqual(['t1', 't2', 't3']);
      for (const t of all.body.tenants) {
        expect(t).toMatchObject({ state: 'active', reason: null, pendingCount: 0, deadCount: 0, heldBy: owners[t.id] });
        expect(t.sampledBy).toBe(owners[t.id]);
      }
      const alpha = await call(base, '/api/tenants', { token: ALPHA });
      expect(alpha.body.tenants.map((t: { id: string }) => t.id)).toEqual(['t1']);
      const pair = await call(base, '/api/tenants?sort=id', { token: PAIR });
      expect(pair.body.tenants.map((t: { id: string }) => t.id)).toEqual(['t1', 't2']);
      expect((await call(base, '/api/tenants?sort=sideways', { token: ROOT })).status).toBe(400);
      expect((await call(base, '/api/tenants', { token: ROOT, body: {} })).status).toBe(405);
    }
  });

  it('a missing tenant is 400 TENANT_REQUIRED; an unknown one 404 UNKNOWN_TENANT (403 for a token not scoped to it: existence is not revealed)', async () => {
    for (const base of urls()) {
      for (const route of ROUTES) {
        const missing = await call(base, route.path, { token: ROOT, ...(route.method === 'POST' ? { body: route.body } : {}) });
        expect([route.path, missing.status, missing.body.error.code]).toEqual([route.path, 400, 'TENANT_REQUIRED']);
        const unknown = await send(base, route, 'nobody', ROOT);
        expect([route.path, unknown.status, unknown.body.error.code]).toEqual([route.path, 404, 'UNKNOWN_TENANT']);
        expect((await send(base, route, 'nobody', ALPHA)).body.error.code).toBe('TENANT_FORBIDDEN');
      }
      // A hostile id is echoed quoted and cut, never as markup the console would parse (it only sets textContent anyway).
      const hostile = await call(base, `/api/lag?tenant=${encodeURIComponent('<img src=x onerror=alert(1)>')}`, { token: ROOT });
      expect(hostile.status).toBe(404);
      expect(hostile.body.error.message).toContain('"<img src=x onerror=alert(1)>"');
    }
  });

  it('scoped tokens: 403 TENANT_FORBIDDEN on another tenant for every route, reads and writes, and nothing is written; 200 on their own', async () => {
    const t2 = tenant.t2 as Tenant;
    await insertDead(t2.pool, { lastError: 'kept dead: the request is refused' });
    for (const base of urls()) {
      for (const route of ROUTES) {
        const refused = await send(base, route, 't2', ALPHA);
        expect([route.method, route.path, refused.status, refused.body.error.code]).toEqual([route.method, route.path, 403, 'TENANT_FORBIDDEN']);
      }
    }
    expect(await auditRows(t2.pool)).toEqual([]);
    expect((await t2.pool.query('SELECT count(*)::int AS n FROM relay_pause')).rows[0].n).toBe(0);
    expect((await readLag(t2.pool)).deadCount).toBe(1);
    expect((await t2.pool.query('SELECT count(*)::int AS n FROM reconcile_run')).rows[0].n).toBe(0);

    const [holder, other] = await holderAndOther('t1');
    for (const base of [holder, other]) {
      for (const route of ROUTES) {
        const answer = await send(base, route, 't1', ALPHA);
        expect([route.method, route.path, answer.status]).toEqual([route.method, route.path, route.ok]);
        expect(answer.body.tenant).toBe('t1');
        // One reconcile run at a time per tenant: wait for it before the next round asks again.
        if (route.path === '/api/reconcile' && route.method === 'POST') {
          await waitFor(async () => (await call(base, '/api/reconcile?tenant=t1', { token: ALPHA })).body.running === false, { timeoutMs: 20_000 });
        }
      }
    }
    // The pair token opens t2 too; the fleet token everything.
    expect((await call(holder, '/api/dead?tenant=t2', { token: PAIR })).status).toBe(200);
    expect((await call(other, '/api/dead?tenant=t3', { token: PAIR })).status).toBe(403);
    expect((await call(other, '/api/dead?tenant=t3', { token: ROOT })).status).toBe(200);
  });

  it('pause of a whole tenant, sent to the replica not holding it, is honoured by the holder within one heartbeat; other tenants keep flowing; resume drains it', async () => {
    const t2 = tenant.t2 as Tenant;
    const t3 = tenant.t3 as Tenant;
    const [, other] = await holderAndOther('t2');
    const paused = await call(other, '/api/pause?tenant=t2', { token: ROOT, body: { reason: 'incident 42' } });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ tenant: 't2', paused: '*', wasPaused: false });
    await sleep(HEARTBEAT_MS + 200);
    await insertEvents(t2.pool, Array.from({ length: 20 }, (_, n) => ({ aggregateId: `paused-${n}`, version: 1, metadata: { n } })));
    await insertEvents(t3.pool, Array.from({ length: 20 }, (_, n) => ({ aggregateId: `flowing-${n}`, version: 1, metadata: { n } })));
    await waitFor(async () => (await readLag(t3.pool)).pendingCount === 0, { timeoutMs: 20_000, message: 't3 keeps flowing' });
    // Four heartbeats later t2 has delivered nothing.
    await sleep(4 * HEARTBEAT_MS);
    expect((await readLag(t2.pool)).pendingCount).toBe(20);
    expect(await (t2.mongoDb.collection('transaction').countDocuments({ _id: { $regex: '^paused-' } } as never))).toBe(0);
    // The fleet overview says so, with the reason, on both replicas.
    await waitFor(async () => {
      const rows = await Promise.all(urls().map(async (base) => (await call(base, '/api/tenants', { token: ROOT })).body.tenants.find((t: { id: string }) => t.id === 't2')));
      return rows.every((r) => r.state === 'paused' && r.reason === 'paused by root: incident 42' && r.pendingCount === 20);
    }, { timeoutMs: 10_000, message: 't2 shown paused with 20 pending' });

    const resumed = await call(other, '/api/resume?tenant=t2', { token: ROOT, body: { reason: 'incident 42 over' } });
    expect(resumed.body).toMatchObject({ tenant: 't2', resumed: '*', wasPaused: true });
    await waitFor(async () => (await readLag(t2.pool)).pendingCount === 0, { timeoutMs: 20_000, message: 't2 drains after resume' });
  });

  it('pause of one aggregate type within a tenant holds only that type', async () => {
    const t1 = tenant.t1 as Tenant;
    const [holder] = await holderAndOther('t1');
    expect((await call(holder, '/api/pause?tenant=t1', { token: ALPHA, body: { type: 'operation', reason: 'bad operations' } })).status).toBe(200);
    await sleep(HEARTBEAT_MS + 200);
    await insertEvents(t1.pool, [
      ...Array.from({ length: 5 }, (_, n) => ({ aggregateType: 'operation', aggregateId: `op-${n}`, version: 1, metadata: { n } })),
      ...Array.from({ length: 5 }, (_, n) => ({ aggregateId: `tx-${n}`, version: 1, metadata: { n } })),
    ]);
    await waitFor(async () => (await readLag(t1.pool)).pendingCount === 5, { timeoutMs: 20_000, message: 'transactions delivered, operations held' });
    await sleep(3 * HEARTBEAT_MS);
    expect((await readLag(t1.pool)).pendingCount).toBe(5);
    const lag = await call(holder, '/api/lag?tenant=t1', { token: ALPHA });
    expect(lag.body.lag.paused.map((p: { scope: string }) => p.scope)).toEqual(['operation']);
    expect((await call(holder, '/api/resume?tenant=t1', { token: ALPHA, body: { type: 'operation', reason: 'fixed' } })).status).toBe(200);
    await waitFor(async () => (await readLag(t1.pool)).pendingCount === 0, { timeoutMs: 20_000 });
  });

  it('requeue and reconcile act on the named tenant only, and every audit row names the tenant and the actor', async () => {
    const t1 = tenant.t1 as Tenant;
    const t3 = tenant.t3 as Tenant;
    await insertDead(t1.pool, { lastError: 'document too large' });
    const deadT3 = await insertDead(t3.pool, { lastError: 'stays dead' });
    const [, other] = await holderAndOther('t1');
    const listed = await call(other, '/api/dead?tenant=t1', { token: ALPHA });
    expect(listed.body.events).toHaveLength(1);
    const requeued = await call(other, '/api/dead/requeue?tenant=t1', { token: ALPHA, body: { all: true, reason: 'fixed the size limit' } });
    expect(requeued.body).toMatchObject({ tenant: 't1', requeued: 1 });
    expect((await readLag(t1.pool)).deadCount).toBe(0);
    expect((await call(other, '/api/dead?tenant=t3', { token: ROOT })).body.events.map((e: { eventId: string }) => e.eventId)).toEqual([deadT3]);

    const before = (await t3.pool.query('SELECT count(*)::int AS n FROM reconcile_run')).rows[0].n;
    const started = await call(other, '/api/reconcile?tenant=t1', { token: ALPHA, body: { repair: true, reason: 'after the incident' } });
    expect(started.status).toBe(202);
    const last = await waitFor(async () => {
      const r = await call(other, '/api/reconcile?tenant=t1', { token: ALPHA });
      return r.body.last?.runId === started.body.runId ? r.body.last : undefined;
    }, { timeoutMs: 30_000, message: 'the run is recorded in t1' });
    expect(last.runId).toBe(started.body.runId);
    expect((await t3.pool.query('SELECT count(*)::int AS n FROM reconcile_run')).rows[0].n).toBe(before);

    const rows = await auditRows(t1.pool);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.details.tenant).toBe('t1');
    expect(rows.map((r) => [r.actor, r.action])).toEqual(expect.arrayContaining([['alpha', 'requeue'], ['alpha', 'pause'], ['alpha', 'resume'], ['alpha', 'repair']]));
    const audit = await call(other, '/api/audit?tenant=t1&limit=5', { token: ALPHA });
    expect(audit.body.entries).toHaveLength(5);
    for (const entry of audit.body.entries) expect(entry.tenant).toBe('t1');
    const t2Rows = await auditRows((tenant.t2 as Tenant).pool);
    expect(t2Rows.map((r) => [r.actor, r.action, r.details.tenant])).toEqual([
      ['root', 'pause', 't2'],
      ['root', 'resume', 't2'],
    ]);
  });

  it('rate limiting counts per token: one token over its budget is refused (429) while another token and the address stay open', async () => {
    const limited = replica('replica-limited', { opsRateLimit: 5 });
    await limited.start();
    const base = limited.opsUrl as string;
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push((await call(base, '/api/tenants', { token: ALPHA })).status);
    expect(codes.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(codes.slice(5)).toEqual([429, 429]);
    const refused = await call(base, '/api/pause?tenant=t1', { token: ALPHA, body: { reason: 'over budget' } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^[0-9]+$/);
    // The refused pause wrote nothing.
    expect((await (tenant.t1 as Tenant).pool.query(`SELECT count(*)::int AS n FROM audit_log WHERE reason = 'over budget'`)).rows[0].n).toBe(0);
    expect((await call(base, '/api/tenants', { token: ROOT })).status).toBe(200);
    expect((await call(base, '/healthz')).status).toBe(200);
  });
});
