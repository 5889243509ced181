import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createPool } from '../../../src/db/pool.ts';
import type { Relay } from '../../../src/relay/relay.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { ALICE, BOB, auditRows, call, insertDead, startControlRelay } from './controlFixtures.ts';

const t = useTestDatabases();
let relay: Relay & { opsUrl: string };

beforeAll(async () => {
  // Lag sampled every second (the least allowed): GET /api/lag answers from the newest sample.
  relay = await startControlRelay(t(), { opsLagSampleMs: 1000 });
});
afterAll(async () => {
  await relay?.stop();
});
beforeEach(async () => {
  await t().pool.query('TRUNCATE outbox, audit_log, relay_pause, reconcile_run');
});

const READ_ROUTES = ['/api/lag', '/api/dead', '/api/audit', '/api/reconcile', '/metrics', '/readyz'];
const MUTATIONS: [string, unknown][] = [
  ['/api/pause', { reason: 'maintenance' }],
  ['/api/resume', { reason: 'maintenance over' }],
  ['/api/dead/requeue', { all: true, reason: 'fixed' }],
  ['/api/reconcile', {}],
];

describe('operator API: authentication', () => {
  it('refuses every route but /healthz and the static page without a token or with a wrong one (401, typed code), and opens them with any named token', async () => {
    for (const path of READ_ROUTES) {
      const none = await call(relay.opsUrl, path);
      expect(none.status, `${path} without a token`).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      const wrong = await call(relay.opsUrl, path, { token: `${ALICE}x` });
      expect(wrong.status, `${path} with a wrong token`).toBe(401);
      expect((await call(relay.opsUrl, path, { authorization: `Basic ${Buffer.from(`x:${ALICE}`).toString('base64')}` })).status).toBe(401);
      expect((await call(relay.opsUrl, path, { token: ALICE })).status, `${path} as alice`).toBe(200);
      expect((await call(relay.opsUrl, path, { token: BOB })).status, `${path} as bob`).toBe(200);
    }
    expect((await call(relay.opsUrl, '/api/lag')).body).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
    for (const [path, body] of MUTATIONS) {
      expect((await call(relay.opsUrl, path, { body })).status, `${path} without a token`).toBe(401);
      expect((await call(relay.opsUrl, path, { body, token: 'not-the-token-0123456789' })).status, `${path} with a wrong token`).toBe(401);
    }
    expect(await auditRows(t().pool)).toEqual([]);
    expect((await call(relay.opsUrl, '/healthz')).status).toBe(200);
    const page = await call(relay.opsUrl, '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'sha256-/);
  });

  it('tells the console whether its token is good without answering 401', async () => {
    expect((await call(relay.opsUrl, '/api/session')).body).toEqual({ authRequired: true, authenticated: false, actor: null, canMutate: false, multiTenant: false, tenants: null });
    expect((await call(relay.opsUrl, '/api/session', { token: 'wrong-token-0123456789abc' })).body).toMatchObject({ authenticated: false });
    expect((await call(relay.opsUrl, '/api/session', { token: BOB })).body).toEqual({ authRequired: true, authenticated: true, actor: 'bob', canMutate: true, multiTenant: false, tenants: null });
  });

  it('with no token configured: reads are open, every mutating route is refused (403 MUTATIONS_DISABLED) and nothing is written', async () => {
    const open = await startControlRelay(t(), { opsTokens: undefined });
    try {
      expect((await call(open.opsUrl, '/api/lag')).status).toBe(200);
      expect((await call(open.opsUrl, '/metrics')).status).toBe(200);
      await insertDead(t().pool);
      for (const [path, body] of MUTATIONS) {
        const answer = await call(open.opsUrl, path, { body });
        expect(answer.status, path).toBe(403);
        expect(answer.body.error.code).toBe('MUTATIONS_DISABLED');
      }
      expect(await auditRows(t().pool)).toEqual([]);
      expect((await t().pool.query(`SELECT count(*)::int AS n FROM outbox WHERE status = 'dead'`)).rows[0].n).toBe(1);
      expect((await t().pool.query('SELECT count(*)::int AS n FROM relay_pause')).rows[0].n).toBe(0);
    } finally {
      await open.stop();
    }
  });
});

describe('operator API: rate limit', () => {
  it('answers 429 RATE_LIMITED with Retry-After once a client exceeds its requests per minute, on every route', async () => {
    const limited = await startControlRelay(t(), { opsRateLimit: 5 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await call(limited.opsUrl, i % 2 ? '/healthz' : '/api/lag', { token: ALICE })).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200]);
      for (const path of ['/api/lag', '/healthz', '/metrics', '/', '/api/pause']) {
        const over = await call(limited.opsUrl, path, path === '/api/pause' ? { token: ALICE, body: { reason: 'x' } } : { token: ALICE });
        expect(over.status, path).toBe(429);
        expect(over.body.error.code).toBe('RATE_LIMITED');
        expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      // The limited pause was never applied.
      expect((await t().pool.query('SELECT count(*)::int AS n FROM relay_pause')).rows[0].n).toBe(0);
    } finally {
      await limited.stop();
    }
  });
});

describe('operator API: bad input', () => {
  const bad: [string, string, { body?: unknown; raw?: string; contentType?: string; method?: string }, number, string][] = [
    ['requeue without a reason', '/api/dead/requeue', { body: { all: true } }, 400, 'INVALID_REQUEST'],
    ['requeue with a blank reason', '/api/dead/requeue', { body: { all: true, reason: '   ' } }, 400, 'INVALID_REQUEST'],
    ['requeue with ids and all', '/api/dead/requeue', { body: { all: true, ids: ['00000000-0000-4000-8000-000000000000'], reason: 'x' } }, 400, 'INVALID_REQUEST'],
    ['requeue with a malformed id', '/api/dead/requeue', { body: { ids: ['nope'], reason: 'x' } }, 400, 'INVALID_REQUEST'],
    ['requeue with no ids', '/api/dead/requeue', { body: { ids: [], reason: 'x' } }, 400, 'INVALID_REQUEST'],
    ['requeue with all: false', '/api/dead/requeue', { body: { all: false, reason: 'x' } }, 400, 'INVALID_REQUEST'],
    ['pause without a reason', '/api/pause', { body: {} }, 400, 'INVALID_REQUEST'],
    ['pause with an over-long reason', '/api/pause', { body: { reason: 'x'.repeat(501) } }, 400, 'INVALID_REQUEST'],
    ['pause of a malformed type', '/api/pause', { body: { type: 'Robert"); DROP TABLE', reason: 'x' } }, 400, 'INVALID_REQUEST'],
    ['pause with an unknown key', '/api/pause', { body: { typ: 'transaction', reason: 'x' } }, 400, 'INVALID_REQUEST'],
    ['pause with a non-object body', '/api/pause', { body: ['reason'] }, 400, 'INVALID_REQUEST'],
    ['resume with a type that is a number', '/api/resume', { body: { type: 7, reason: 'x' } }, 400, 'INVALID_REQUEST'],
    ['repair without a reason', '/api/reconcile', { body: { repair: true } }, 400, 'INVALID_REQUEST'],
    ['reconcile of an unknown check', '/api/reconcile', { body: { checks: ['everything'] } }, 400, 'INVALID_REQUEST'],
    ['invalid JSON', '/api/pause', { raw: '{"reason": ' }, 400, 'INVALID_REQUEST'],
    ['a form post', '/api/pause', { raw: 'reason=x', contentType: 'application/x-www-form-urlencoded' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a text body', '/api/pause', { raw: '{"reason":"x"}', contentType: 'text/plain' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a body over 16 KiB', '/api/pause', { raw: JSON.stringify({ reason: 'x', pad: 'y'.repeat(20_000) }) }, 413, 'PAYLOAD_TOO_LARGE'],
    ['dead with limit 0', '/api/dead?limit=0', {}, 400, 'INVALID_REQUEST'],
    ['dead with limit abc', '/api/dead?limit=abc', {}, 400, 'INVALID_REQUEST'],
    ['audit with an unknown parameter', '/api/audit?limit=5&actor=x', {}, 400, 'INVALID_REQUEST'],
    ['an unknown route', '/api/nope', {}, 404, 'NOT_FOUND'],
    ['GET on a mutation', '/api/pause', { method: 'GET' }, 405, 'METHOD_NOT_ALLOWED'],
    ['DELETE on a read', '/api/lag', { method: 'DELETE' }, 405, 'METHOD_NOT_ALLOWED'],
  ];

  it.each(bad)('%s → %i %s, nothing written', async (_name, path, options, status, code) => {
    const eventId = await insertDead(t().pool);
    const answer = await call(relay.opsUrl, path, { token: ALICE, ...options });
    expect(answer.status).toBe(status);
    expect(answer.body.error).toMatchObject({ code, message: expect.any(String) });
    expect(await auditRows(t().pool)).toEqual([]);
    expect((await t().pool.query('SELECT count(*)::int AS n FROM relay_pause')).rows[0].n).toBe(0);
    expect((await t().pool.query('SELECT status FROM outbox WHERE event_id = $1', [eventId])).rows[0].status).toBe('dead');
    expect(relay.paused().all).toBe(false);
  });

  it('names each problem with its path', async () => {
    const answer = await call(relay.opsUrl, '/api/pause', { token: ALICE, body: { type: 'Bad Type', reason: '' } });
    expect(answer.body.error.issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'type' }), expect.objectContaining({ path: 'reason', message: expect.stringMatching(/reason is required/) })]),
    );
  });
});

describe('operator API: reads', () => {
  it('GET /api/lag: the newest lag sample with each live relay, pauses, its age, and the bounded history', async () => {
    await insertDead(t().pool);
    // Within a sample interval the dead event shows.
    const answer = await waitFor(async () => {
      const lag = await call(relay.opsUrl, '/api/lag', { token: ALICE });
      return lag.body.lag?.deadCount === 1 ? lag : undefined;
    }, { message: 'the dead event in a lag sample' });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ relayId: relay.id, lag: { deadCount: 1, paused: [], relays: expect.arrayContaining([expect.objectContaining({ id: relay.id })]) } });
    expect(answer.body.sampleAgeMs).toBeGreaterThanOrEqual(0);
    expect(answer.body.sampleAgeMs).toBeLessThanOrEqual(2000);
    expect(Math.abs(Date.now() - answer.body.sampleAgeMs - Date.parse(answer.body.sampledAt))).toBeLessThan(1000);
    expect(Array.isArray(answer.body.history)).toBe(true);
    expect(answer.body.history.length).toBeGreaterThan(0);
    expect(answer.body.history[0]).toEqual({ t: expect.any(Number), pending: expect.any(Number), oldestSeconds: null, dead: expect.any(Number), deliveredLastMinute: expect.any(Number) });
  });

  it('GET /api/lag answers N requests in a row from the history (no outbox_lag read of their own), says how old the sample is, and reads afresh after a pause', async () => {
    const pool = createPool(t().databaseUrl, { max: 4, applicationName: 'outbox-relay-lag-test' });
    const lagReads = countLagReads(pool);
    // One sample at start, the next a minute later: every read within the test is a request's own.
    const sampled = await startControlRelay(t(), { opsLagSampleMs: 60_000 }, { pool });
    try {
      await waitFor(() => lagReads.count >= 1, { message: "the history's first sample" });
      const before = lagReads.count;
      const answers = [];
      for (let i = 0; i < 20; i++) answers.push((await call(sampled.opsUrl, '/api/lag', { token: ALICE })).body);
      expect(lagReads.count - before, 'outbox_lag reads caused by 20 requests').toBe(0);
      expect(new Set(answers.map((a) => a.sampledAt)).size).toBe(1);
      expect(answers.at(-1).sampleAgeMs).toBeGreaterThanOrEqual(answers[0].sampleAgeMs);
      expect(answers[0].sampleAgeMs).toBeLessThan(60_000);

      // A pause changes what the lag shows: the next answer is read afresh and shows it.
      expect((await call(sampled.opsUrl, '/api/pause', { token: ALICE, body: { reason: 'lag test' } })).status).toBe(200);
      const afterPause = (await call(sampled.opsUrl, '/api/lag', { token: ALICE })).body;
      expect(afterPause.lag.paused).toEqual([expect.objectContaining({ scope: '*', paused_by: 'alice' })]);
      expect(Date.parse(afterPause.sampledAt)).toBeGreaterThan(Date.parse(answers[0].sampledAt));
      expect(lagReads.count - before).toBe(1);
    } finally {
      await call(sampled.opsUrl, '/api/resume', { token: ALICE, body: { reason: 'lag test over' } });
      await sampled.stop();
      await pool.end();
    }
  });

  it('GET /api/dead honours ?limit and shows the last error', async () => {
    for (let i = 0; i < 3; i++) await insertDead(t().pool, { lastError: `boom ${i}` });
    const answer = await call(relay.opsUrl, '/api/dead?limit=2', { token: ALICE });
    expect(answer.body.events).toHaveLength(2);
    expect(answer.body.events[0]).toMatchObject({ lastError: 'boom 0', attempts: 10, aggregateType: 'transaction' });
  });
});

describe('operator API: mutations and their audit rows', () => {
  it('requeue by id moves the dead event back to pending (the relay then delivers it) and records who, what and why', async () => {
    const eventId = await insertDead(t().pool);
    const other = await insertDead(t().pool);
    const answer = await call(relay.opsUrl, '/api/dead/requeue', { token: ALICE, body: { ids: [eventId, '00000000-0000-4000-8000-000000000000'], reason: 'sink fixed' } });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ requeued: 1, notFound: ['00000000-0000-4000-8000-000000000000'] });
    await waitFor(async () => (await t().pool.query('SELECT 1 FROM outbox_delivered WHERE event_id = $1', [eventId])).rowCount === 1, { message: 'requeued event delivered' });
    expect((await t().pool.query('SELECT status FROM outbox WHERE event_id = $1', [other])).rows[0].status).toBe('dead');
    expect(await auditRows(t().pool)).toEqual([
      { actor: 'alice', action: 'requeue', target: `${eventId},00000000-0000-4000-8000-000000000000`, reason: 'sink fixed', details: { requeued: 1, eventIds: [eventId] } },
    ]);
  });

  it('requeue all, pause, resume, reconcile and repair each write one audit row naming the token holder', async () => {
    await insertDead(t().pool);
    expect((await call(relay.opsUrl, '/api/dead/requeue', { token: BOB, body: { all: true, reason: 'all fixed' } })).body).toEqual({ requeued: 1, notFound: [] });
    expect((await call(relay.opsUrl, '/api/pause', { token: ALICE, body: { type: 'operation', reason: 'mongo maintenance' } })).body).toEqual({ paused: 'operation', wasPaused: false });
    expect((await call(relay.opsUrl, '/api/resume', { token: BOB, body: { type: 'operation', reason: 'done' } })).body).toEqual({ resumed: 'operation', wasPaused: true });
    const run = await call(relay.opsUrl, '/api/reconcile', { token: ALICE, body: { checks: ['double-entry'] } });
    expect(run.status).toBe(202);
    await waitFor(async () => (await call(relay.opsUrl, '/api/reconcile', { token: ALICE })).body.last?.runId === run.body.runId, { message: 'reconcile run recorded' });
    const repair = await call(relay.opsUrl, '/api/reconcile', { token: BOB, body: { repair: true, checks: ['metadata-sync'], reason: 'drift after restore' } });
    expect(repair.status).toBe(202);
    await waitFor(async () => (await call(relay.opsUrl, '/api/reconcile', { token: ALICE })).body.last?.runId === repair.body.runId, { message: 'repair run recorded' });
    const rows = await auditRows(t().pool);
    expect(rows.map((r) => [r.actor, r.action, r.target, r.reason])).toEqual([
      ['bob', 'requeue', 'all dead events', 'all fixed'],
      ['alice', 'pause', 'operation', 'mongo maintenance'],
      ['bob', 'resume', 'operation', 'done'],
      ['alice', 'reconcile', `reconcile run ${run.body.runId}`, null],
      ['bob', 'repair', `reconcile run ${repair.body.runId}`, 'drift after restore'],
    ]);
    const audit = await call(relay.opsUrl, '/api/audit?limit=2', { token: ALICE });
    expect(audit.body.entries.map((e: { action: string }) => e.action)).toEqual(['repair', 'reconcile']);
    const last = (await call(relay.opsUrl, '/api/reconcile', { token: ALICE })).body.last;
    expect(last).toMatchObject({ ok: true, runId: repair.body.runId, report: { ok: true, checks: { 'metadata-sync': { problems: 0 } } } });
  });
});

/** Counts the outbox_lag reads made on `pool` (the relay's readLag goes through pool.query). */
function countLagReads(pool: pg.Pool): { count: number } {
  const counter = { count: 0 };
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text;
    if (text?.includes('outbox_lag')) counter.count += 1;
    return query(...args);
  }) as typeof pool.query;
  return counter;
}
