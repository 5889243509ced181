import { beforeEach, describe, expect, it } from 'vitest';
import { advanceSlots } from '../../../../src/outbox/log/advanceSlots.ts';
import { readWindowBatch, type WindowBatch } from '../../../../src/outbox/log/readWindowBatch.ts';
import { acquireSlots } from '../../../../src/outbox/log/slotLeases.ts';
import { positionAfter, type SlotPosition } from '../../../../src/outbox/log/slotPosition.ts';
import { useTestDatabases } from '../../../helpers/testDatabases.ts';
import { appendCommitted, entitiesInOneSlot, logRow, openTransaction, resetLog } from './logFixtures.ts';

const t = useTestDatabases();
const OWNER = 'relay-w';

beforeEach(async () => {
  await resetLog(t().pool);
});

/** Hold every slot and read/advance like a relay would, keeping positions in memory. */
async function holdAll(): Promise<Map<number, SlotPosition>> {
  const positions = await acquireSlots(t().db, { owner: OWNER, leaseMs: 60_000 });
  expect(positions).toHaveLength(128);
  return new Map(positions.map((p) => [p.slot, p]));
}

async function readAndAdvance(held: Map<number, SlotPosition>, limit = 1000): Promise<WindowBatch> {
  const batch = await readWindowBatch(t().db, { positions: [...held.values()], limit });
  const moves = [...batch.windows].map(([slot, window]) => ({ position: positionAfter(held.get(slot)!, window, window.lastId), delivered: 0 }));
  const { advanced } = await advanceSlots(t().db, { owner: OWNER, moves });
  for (const move of moves) if (advanced.includes(move.position.slot)) held.set(move.position.slot, move.position);
  return batch;
}

const ids = (batch: WindowBatch) => batch.events.map((e) => `${e.aggregateId}@${e.version}`);

describe('the log read through snapshot windows', () => {
  it('reads a row only once its transaction committed, even when its id is lower than rows read before it', async () => {
    const held = await holdAll();
    const early = await openTransaction(t().pool);
    await early.append([logRow('early')]);
    await appendCommitted(t().pool, [logRow('late')]);
    expect(ids(await readAndAdvance(held))).toEqual(['late@1']);
    await early.commit();
    expect(ids(await readAndAdvance(held))).toEqual(['early@1']);
    expect(ids(await readAndAdvance(held))).toEqual([]);
  });

  it('keeps an entity in version order when the later version\'s transaction has the lower xid (the xid-cursor trap)', async () => {
    const held = await holdAll();
    // T2 takes its xid first, then waits; T1 writes v1 and commits; only then does T2 write v2.
    const t2 = await openTransaction(t().pool);
    await t2.client.query('SELECT pg_current_xact_id()');
    await appendCommitted(t().pool, [logRow('ordered', 1)]);
    await t2.append([logRow('ordered', 2)]);
    await t2.commit();
    const batch = await readAndAdvance(held);
    expect(ids(batch)).toEqual(['ordered@1', 'ordered@2']);
  });

  it('lets an open transaction delay only its own rows: later commits in its slot and in other slots are read meanwhile', async () => {
    const held = await holdAll();
    const { slot, ids: sameSlot } = await entitiesInOneSlot(t().pool, 'open-', 3);
    const open = await openTransaction(t().pool);
    await open.append([logRow(sameSlot[0]!)]);
    await appendCommitted(t().pool, [logRow(sameSlot[1]!), logRow('elsewhere-1')]);
    const first = await readAndAdvance(held);
    expect(ids(first).sort()).toEqual([`${sameSlot[1]}@1`, 'elsewhere-1@1'].sort());
    expect(first.events.find((e) => e.aggregateId === sameSlot[1])!.slot).toBe(slot);
    await appendCommitted(t().pool, [logRow(sameSlot[2]!)]);
    expect(ids(await readAndAdvance(held))).toEqual([`${sameSlot[2]}@1`]);
    await open.commit();
    expect(ids(await readAndAdvance(held))).toEqual([`${sameSlot[0]}@1`]);
  });

  it('pages through a window larger than the limit in id order, each row once', async () => {
    const held = await holdAll();
    const { ids: entities } = await entitiesInOneSlot(t().pool, 'page-', 25);
    const written = await appendCommitted(t().pool, entities.map((id) => logRow(id)));
    const seen: number[] = [];
    for (let i = 0; i < 10; i++) {
      const batch = await readAndAdvance(held, 7);
      if (batch.events.length === 0) break;
      seen.push(...batch.events.map((e) => e.id));
    }
    expect(seen).toEqual(written);
  });

  it('never skips a row committed while its slot is part-way through a window', async () => {
    const held = await holdAll();
    const { ids: entities } = await entitiesInOneSlot(t().pool, 'mid-', 6);
    await appendCommitted(t().pool, entities.slice(0, 4).map((id) => logRow(id)));
    const first = await readAndAdvance(held, 2);
    await appendCommitted(t().pool, entities.slice(4).map((id) => logRow(id)));
    const rest: string[] = [];
    for (let i = 0; i < 5; i++) rest.push(...ids(await readAndAdvance(held, 2)));
    expect([...ids(first), ...rest]).toEqual(entities.map((id) => `${id}@1`));
  });

  it('writes nothing when a read finds no work (an idle slot costs a read, not a write)', async () => {
    const held = await holdAll();
    const before = await t().pool.query('SELECT slot, xmin::text FROM outbox_slot ORDER BY slot');
    for (let i = 0; i < 3; i++) expect((await readAndAdvance(held)).events).toEqual([]);
    const after = await t().pool.query('SELECT slot, xmin::text FROM outbox_slot ORDER BY slot');
    expect(after.rows).toEqual(before.rows);
  });

  it('places an operation\'s own row in its transaction\'s slot through the slot key', async () => {
    await appendCommitted(t().pool, [logRow('tx-1'), logRow('op-1', 1, 'operation', { slotKey: 'transaction/tx-1' })]);
    const { rows } = await t().pool.query<{ slot: number }>('SELECT DISTINCT slot FROM outbox_log');
    expect(rows).toHaveLength(1);
  });
});

describe('slot leases', () => {
  it('fences the position write by epoch: after a takeover the old owner moves nothing, and the new owner resumes from the last position written', async () => {
    await appendCommitted(t().pool, [logRow('fenced', 1)]);
    const old = new Map((await acquireSlots(t().db, { owner: 'old', leaseMs: 100 })).map((p) => [p.slot, p]));
    const batch = await readWindowBatch(t().db, { positions: [...old.values()], limit: 10 });
    expect(batch.events).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const taken = await acquireSlots(t().db, { owner: 'new', leaseMs: 60_000 });
    expect(taken).toHaveLength(128);
    const slot = batch.events[0]!.slot;
    expect(taken.find((p) => p.slot === slot)!.epoch).toBe(old.get(slot)!.epoch + 1);
    const window = batch.windows.get(slot)!;
    const { lost } = await advanceSlots(t().db, { owner: 'old', moves: [{ position: positionAfter(old.get(slot)!, window, window.lastId), delivered: 1 }] });
    expect(lost).toEqual([slot]);
    const again = await readWindowBatch(t().db, { positions: taken, limit: 10 });
    expect(again.events.map((e) => e.aggregateId)).toEqual(['fenced']);
  });

  it('splits the slots fairly between live relays', async () => {
    await t().pool.query(`INSERT INTO outbox_relay (id, host, pid) VALUES ('r1', 'h', 1), ('r2', 'h', 2), ('r3', 'h', 3)`);
    const a = await acquireSlots(t().db, { owner: 'r1', leaseMs: 60_000 });
    const b = await acquireSlots(t().db, { owner: 'r2', leaseMs: 60_000 });
    const c = await acquireSlots(t().db, { owner: 'r3', leaseMs: 60_000 });
    expect([a.length, b.length, c.length]).toEqual([43, 43, 42]);
    expect(new Set([...a, ...b, ...c].map((p) => p.slot)).size).toBe(128);
    // Holding its share, a relay takes no more.
    expect(await acquireSlots(t().db, { owner: 'r1', leaseMs: 60_000 })).toEqual([]);
  });
});
