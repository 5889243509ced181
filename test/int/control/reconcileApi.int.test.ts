import { describe, expect, it } from 'vitest';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { ALICE, BOB, auditRows, call, useControlRelayPair } from './controlFixtures.ts';

const t = useTestDatabases();
const relays = useControlRelayPair(t);

describe('POST /api/reconcile across two relays', () => {
  it('is single-flight: while one relay runs, a request to either relay gets 409 RECONCILE_RUNNING and both report it running; afterwards the run is recorded under its id', async () => {
    const { a, b } = relays();
    // Hold the run at its very end: recording its outcome waits for this
    // lock, and the run keeps the reconcile lock until it has recorded.
    const blocker = await t().pool.connect();
    let runId: string;
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE reconcile_run IN EXCLUSIVE MODE');

      const first = await call(a.opsUrl, '/api/reconcile', { token: ALICE, body: { reason: 'weekly check' } });
      expect(first.status).toBe(202);
      expect(first.body.runId).toMatch(/^[0-9a-f-]{36}$/);
      runId = first.body.runId;

      for (const relay of [b, a]) {
        const second = await call(relay.opsUrl, '/api/reconcile', { token: BOB, body: {} });
        expect(second.status).toBe(409);
        expect(second.body.error.code).toBe('RECONCILE_RUNNING');
      }
      expect((await call(b.opsUrl, '/api/reconcile', { token: BOB })).body).toMatchObject({ running: true, current: null, last: null });
      expect((await call(a.opsUrl, '/api/reconcile', { token: BOB })).body).toMatchObject({ running: true, current: { runId, actor: 'alice', repair: false } });
      await blocker.query('COMMIT');
    } finally {
      blocker.release();
    }

    const done = await waitFor(async () => {
      const state = (await call(b.opsUrl, '/api/reconcile', { token: BOB })).body;
      return state.last?.runId === runId && !state.running ? state : undefined;
    }, { message: 'run recorded and lock released' });
    expect(done.last).toMatchObject({ ok: true, ranBy: `alice via ${a.id}`, error: null, report: { ok: true, checks: { 'double-entry': { problems: 0 } } } });
    // Refused requests did nothing: one run, one audit row.
    expect((await t().pool.query('SELECT count(*)::int AS n FROM reconcile_run')).rows[0].n).toBe(1);
    expect((await auditRows(t().pool)).map((r) => [r.actor, r.action, r.reason])).toEqual([['alice', 'reconcile', 'weekly check']]);

    // Free again: the other relay may run now.
    const next = await call(b.opsUrl, '/api/reconcile', { token: BOB, body: { checks: ['balances'] } });
    expect(next.status).toBe(202);
    await waitFor(async () => (await call(a.opsUrl, '/api/reconcile', { token: BOB })).body.last?.runId === next.body.runId);
  });
});
