/**
 * A relay frozen (SIGSTOP) with a batch in hand, past its lease: another
 * relay takes the batch over and delivers everything; when the frozen one
 * wakes (SIGCONT) and finishes its batch late, its "delivered" is refused
 * (claimed_by is no longer its own) and its MongoDB writes are fenced out by
 * the newer versions already there.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { insertEvents, outboxCounts } from '../helpers/outboxFixtures.ts';
import { testRelayEnv } from '../helpers/relayConfig.ts';
import { startRelayProcess, type RelayProcess } from '../helpers/relayProcess.ts';
import { useTestDatabases } from '../helpers/testDatabases.ts';
import { waitFor } from '../helpers/waitFor.ts';

const t = useTestDatabases();
const ENTITIES = 300;
const VERSIONS = 5;
const started: RelayProcess[] = [];

afterEach(async () => {
  for (const proc of started.splice(0)) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) continue;
    proc.child.kill('SIGCONT');
    proc.child.kill('SIGTERM');
    await proc.exited;
  }
});

async function start(relayId: string): Promise<RelayProcess> {
  const proc = await startRelayProcess(testRelayEnv(t(), { OUTBOX_RELAY_ID: relayId, OUTBOX_RELAY_BATCH_SIZE: '50' }));
  started.push(proc);
  return proc;
}

const claimedBy = async (relayId: string): Promise<number[]> =>
  (await t().pool.query<{ id: string }>(`SELECT id FROM outbox WHERE claimed_by = $1 AND status = 'pending' ORDER BY id`, [relayId])).rows.map((r) => Number(r.id));

/** No statement of the relay still running in PostgreSQL (one sent just before the freeze completes on its own). */
const quiet = async (relayId: string): Promise<boolean> =>
  (await t().pool.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND state <> 'idle'`, [`outbox-relay:${relayId}`])).rowCount === 0;

describe('a frozen relay', () => {
  it('SIGSTOP past its lease with a batch in hand: another relay takes over and delivers everything; the frozen one’s late finish is fenced out', async () => {
    const events = [];
    for (let version = 1; version <= VERSIONS; version++) for (let i = 0; i < ENTITIES; i++) events.push({ aggregateId: `frozen-${i}`, version, metadata: { i, version } });
    await insertEvents(t().pool, events);

    const frozen = await start('frozen-relay');
    // Freeze it while it holds a batch; if the freeze lands between batches, let it run a little and try again.
    let held: number[] = [];
    for (let attempt = 0; attempt < 20 && held.length === 0; attempt++) {
      await waitFor(async () => (await claimedBy('frozen-relay')).length > 0, { intervalMs: 5, message: 'the relay holding a batch' });
      frozen.child.kill('SIGSTOP');
      await waitFor(() => quiet('frozen-relay'), { message: 'the frozen relay’s last statement finishing' });
      held = await claimedBy('frozen-relay');
      if (held.length === 0) frozen.child.kill('SIGCONT');
    }
    expect(held.length, 'frozen with a batch in hand').toBeGreaterThan(0);
    const { rows: [lease] } = await t().pool.query<{ ends: Date }>(`SELECT min(claimed_until) AS ends FROM outbox WHERE id = ANY($1::bigint[])`, [held]);
    expect((await outboxCounts(t().pool)).pending).toBeGreaterThan(held.length);

    await start('takeover-relay');
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 150_000, message: 'the takeover relay draining everything' });
    const takenOver = await t().pool.query<{ delivered_by: string; n: number }>(
      `SELECT delivered_by, count(*)::int AS n FROM outbox_delivered WHERE id = ANY($1::bigint[]) GROUP BY delivered_by`,
      [held],
    );
    expect(takenOver.rows).toEqual([{ delivered_by: 'takeover-relay', n: held.length }]);
    // Not one of them before the frozen relay's lease ran out.
    const early = await t().pool.query(`SELECT 1 FROM outbox_delivered WHERE id = ANY($1::bigint[]) AND delivered_at < $2`, [held, lease!.ends]);
    expect(early.rowCount).toBe(0);

    // Awake again, it finishes the batch it held: MongoDB fences its older versions out, Postgres refuses its "delivered".
    frozen.child.kill('SIGCONT');
    // Every row it held comes back "lost" (one warning per batch in hand; it may hold several).
    const lostReported = () =>
      frozen
        .output()
        .split('\n')
        .filter((line) => line.includes('after our lease ran out'))
        .reduce((sum, line) => sum + (JSON.parse(line) as { lost: number }).lost, 0);
    await waitFor(() => lostReported() >= held.length, { timeoutMs: 60_000, message: 'the frozen relay finishing its batches late' });
    expect(lostReported()).toBe(held.length);

    expect(await outboxCounts(t().pool)).toEqual({ pending: 0, dead: 0, delivered: ENTITIES * VERSIONS, claimed: 0 });
    const refused = await t().pool.query(`SELECT 1 FROM outbox_delivered WHERE id = ANY($1::bigint[]) AND delivered_by <> 'takeover-relay'`, [held]);
    expect(refused.rowCount).toBe(0);
    const docs = await t().mongoDb.collection('transaction_metadata').find({ _id: { $regex: '^frozen-' } as never }).toArray();
    expect(docs).toHaveLength(ENTITIES);
    const wrong = docs.filter((doc) => doc.version !== VERSIONS || (doc.metadata as { version: number }).version !== VERSIONS).map((doc) => doc._id);
    expect(wrong).toEqual([]);

    frozen.child.kill('SIGTERM');
    expect(await frozen.exited).toEqual({ code: 0, signal: null });
  });
});
