/**
 * Hostile input: each case is either refused with a typed error and nothing
 * written (Postgres snapshot and MongoDB unchanged), or stored verbatim and
 * read back identically from Postgres and — after the relay ran — MongoDB.
 * Nothing reaches either database as code: SQL fragments stay strings (the
 * tables are still there), `$`-keys never become MongoDB operators (a canary
 * document no operator could miss is untouched).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelayError } from '../../../src/errors.ts';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import { updateTransactionMetadata } from '../../../src/ledger/updateMetadata.ts';
import { enqueue } from '../../../src/outbox/enqueue.ts';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import type { Metadata, PostingEntry, PostingRequest } from '../../../src/types.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
let relay: Relay;
let keyCounter = 0;
interface Doc {
  _id: string;
  version: number;
  eventId: string;
  metadata: unknown;
  updatedAt: Date;
}
const CANARY = { _id: 'canary', version: 1, eventId: 'canary', metadata: { untouched: true } };

beforeAll(async () => {
  await createBalance(t().db, { account: 'world', asset: 'EUR', allowNegative: true });
  await createBalance(t().db, { account: 'alice', asset: 'EUR' });
  relay = createRelay(testRelayConfig(t()));
  await relay.start();
  await t().mongoDb.collection<Doc>('transaction_metadata').insertOne({ ...CANARY, updatedAt: new Date(0) });
});
afterAll(async () => {
  await relay?.stop();
});

const debit = (account: string, amount: PostingEntry['amount'] = '1'): PostingEntry => ({ account, asset: 'EUR', direction: 'debit', amount });
const credit = (account: string, amount: PostingEntry['amount'] = '1'): PostingEntry => ({ account, asset: 'EUR', direction: 'credit', amount });
const request = (extra: Partial<PostingRequest> = {}): PostingRequest => ({ idempotencyKey: `hostile-${keyCounter++}`, entries: [debit('world'), credit('alice')], ...extra });

async function everything(): Promise<unknown> {
  const { rows } = await t().pool.query(`
    SELECT (SELECT count(*)::int FROM balance) AS balance, (SELECT count(*)::int FROM "transaction") AS transaction,
           (SELECT count(*)::int FROM operation) AS operation, (SELECT count(*)::int FROM outbox) AS outbox,
           (SELECT count(*)::int FROM outbox_delivered) AS delivered,
           (SELECT json_agg(json_build_object('id', id, 'available', available::text, 'version', version) ORDER BY id) FROM balance) AS balances`);
  const mongo = await Promise.all(['transaction_metadata', 'operation_metadata'].map((c) => t().mongoDb.collection(c).countDocuments({})));
  return { pg: rows[0], mongo };
}

async function expectCanaryIntact(): Promise<void> {
  const canary = await t().mongoDb.collection<Doc>('transaction_metadata').findOne({ _id: 'canary' });
  expect(canary).toMatchObject({ version: 1, eventId: 'canary', metadata: { untouched: true } });
}

/** Refused with `code`, and no trace in Postgres or MongoDB. */
async function expectRefused(code: string, action: () => Promise<unknown>): Promise<void> {
  const before = await everything();
  const error = await action().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeInstanceOf(OutboxRelayError);
  expect((error as OutboxRelayError).code).toBe(code);
  expect(await everything()).toEqual(before);
  await expectCanaryIntact();
}

async function delivered(): Promise<void> {
  relay.wake();
  await waitFor(async () => (await t().pool.query(`SELECT count(*)::int AS n FROM outbox`)).rows[0].n === 0, { timeoutMs: 30_000, message: 'outbox drained' });
}

/** Post, then read the metadata back from Postgres (the transaction row) and, after delivery, MongoDB: both identical to what was sent. */
async function expectStoredVerbatim(req: PostingRequest): Promise<{ transactionId: string; operationIds: string[] }> {
  const result = await postTransaction(t().db, req);
  await delivered();
  if (req.metadata) {
    const pgRow = await t().pool.query(`SELECT metadata FROM "transaction" WHERE id = $1`, [result.transactionId]);
    expect(pgRow.rows[0].metadata).toEqual(req.metadata);
    const doc = await t().mongoDb.collection<Doc>('transaction_metadata').findOne({ _id: result.transactionId });
    expect(doc?.metadata).toEqual(req.metadata);
  }
  const ops = await t().pool.query(`SELECT id::text, account, asset FROM operation WHERE transaction_id = $1 ORDER BY entry_index`, [result.transactionId]);
  expect(ops.rows.map((r: { account: string }) => r.account)).toEqual(req.entries.map((e) => e.account));
  for (const [i, entry] of req.entries.entries()) {
    if (!entry.metadata) continue;
    const doc = await t().mongoDb.collection<Doc>('operation_metadata').findOne({ _id: result.operationIds[i] as string });
    expect(doc?.metadata).toEqual(entry.metadata);
  }
  await expectCanaryIntact();
  return result;
}

describe('hostile metadata keys are refused (INVALID_METADATA), nothing written, no operator executed', () => {
  for (const key of ['$where', '$set', 'a.b', '__proto__', 'constructor', '']) {
    it(`key ${JSON.stringify(key)}`, async () => {
      // JSON.parse makes a real own "__proto__" key (an object literal would set the prototype instead).
      const metadata = JSON.parse(`{${JSON.stringify(key)}: "function () { return true }"}`) as Metadata;
      await expectRefused('INVALID_METADATA', () => postTransaction(t().db, request({ metadata })));
      await expectRefused('INVALID_METADATA', () => postTransaction(t().db, request({ entries: [{ ...debit('world'), metadata: { nested: metadata } }, credit('alice')] })));
    });
  }
  it('an operator-shaped key nested deep inside a value', async () => {
    await expectRefused('INVALID_METADATA', () => postTransaction(t().db, request({ metadata: { q: { list: [{ $gt: '' }] } } as Metadata })));
  });
  it('a metadata update with $set is refused too', async () => {
    const { transactionId } = await postTransaction(t().db, request({ metadata: { ok: true } }));
    await delivered();
    await expectRefused('INVALID_METADATA', () => updateTransactionMetadata(t().db, transactionId, { $set: { ok: false } } as Metadata));
  });
});

describe('hostile metadata shapes and values', () => {
  const refusedValues: [string, () => unknown][] = [
    ['nesting depth 1,000', () => Array.from({ length: 999 }).reduce<Record<string, unknown>>((inner) => ({ a: inner }), {})],
    ['a 20 MB string', () => ({ big: 'x'.repeat(20 * 1024 * 1024) })],
    ['a Date', () => ({ when: new Date() })],
    ['a BigInt', () => ({ n: 10n })],
    ['a function', () => ({ f: () => 1 })],
    ['NaN', () => ({ n: Number.NaN })],
    ['Infinity', () => ({ n: Number.POSITIVE_INFINITY })],
    ['-0', () => ({ n: -0 })],
    ['a circular reference', () => {
      const o: Record<string, unknown> = { a: 1 };
      o.self = o;
      return o;
    }],
    ['a lone high surrogate', () => ({ s: 'ab\uD800cd' })],
    ['a lone low surrogate', () => ({ s: '\uDC00' })],
    ['a lone surrogate in a key', () => ({ ['k\uD83D']: 1 })],
    ['undefined inside an array', () => ({ list: [1, undefined] })],
    ['a class instance', () => ({ m: new Map() })],
  ];
  for (const [name, make] of refusedValues) {
    it(`${name} → INVALID_METADATA`, async () => {
      await expectRefused('INVALID_METADATA', () => postTransaction(t().db, request({ metadata: make() as Metadata })));
    });
  }

  it('strings that look like code, operators, SQL and every kind of unicode are stored verbatim in both stores', async () => {
    await expectStoredVerbatim(
      request({
        description: `'; DROP TABLE balance; --`,
        metadata: {
          where: '$where',
          op: { set: '$set', js: 'function () { sleep(1000); return true }' },
          sql: `'; DROP TABLE "transaction"; --`,
          quotes: `it's "quoted" \\ back\\slash`,
          lines: 'a\nb\r\nc\t',
          emoji: '👩‍💻 café 中文 \u200b',
          pair: '\uD83D\uDE00',
          numbers: [0, -1, 1.5, 1e300, Number.MAX_SAFE_INTEGER],
          // 32 levels: the deepest allowed.
          deep: Array.from({ length: 30 }).reduce<Record<string, unknown>>((inner) => ({ a: inner }), { end: true }) as Metadata,
        },
      }),
    );
    await expect(t().pool.query('SELECT count(*) FROM balance')).resolves.toBeDefined();
  });
});

describe('hostile amounts', () => {
  const cases: [string, unknown, string][] = [
    ['1e400 (the number: Infinity)', 1e400, 'INVALID_AMOUNT'],
    ["'1e400'", '1e400', 'INVALID_AMOUNT'],
    ['-0', -0, 'INVALID_AMOUNT'],
    ["'-0'", '-0', 'INVALID_AMOUNT'],
    ["'0x10'", '0x10', 'INVALID_AMOUNT'],
    ['0x10 (the number 16)', 0x10, 'INVALID_AMOUNT'],
    ["' 5'", ' 5', 'INVALID_AMOUNT'],
    ["'5.0'", '5.0', 'INVALID_AMOUNT'],
    ['5.0 (the number 5)', 5.0, 'INVALID_AMOUNT'],
    ["'1'.repeat(400)", '1'.repeat(400), 'AMOUNT_OUT_OF_RANGE'],
    ['2^63', 2n ** 63n, 'AMOUNT_OUT_OF_RANGE'],
  ];
  for (const [name, amount, code] of cases) {
    it(`${name} → ${code}`, async () => {
      await expectRefused(code, () => postTransaction(t().db, request({ entries: [debit('world', amount as string), credit('alice', amount as string)] })));
    });
  }
});

describe('hostile account names', () => {
  const stored = [`o'brien "the" \\ one`, `'; DROP TABLE balance; --`, `robert'); DELETE FROM operation; --`, 'line one\nline two\r\n', '$where', 'a.b.c', '__proto__'];
  for (const account of stored) {
    it(`${JSON.stringify(account)} is stored verbatim; every table still exists`, async () => {
      await createBalance(t().db, { account, asset: 'EUR' });
      const { rows } = await t().pool.query(`SELECT account FROM balance WHERE account = $1`, [account]);
      expect(rows).toEqual([{ account }]);
      await expectStoredVerbatim(request({ metadata: { account }, entries: [{ ...debit('world', '7'), metadata: { account } }, { ...credit(account, '7'), metadata: { to: account } }] }));
      const balance = await t().pool.query(`SELECT available::text FROM balance WHERE account = $1`, [account]);
      expect(balance.rows).toEqual([{ available: '7' }]);
      const tables = await t().pool.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('balance', 'transaction', 'operation', 'outbox')`);
      expect(tables.rows[0].n).toBe(4);
    });
  }
  it('10,000 characters → INVALID_REQUEST, nothing written', async () => {
    await expectRefused('INVALID_REQUEST', () => createBalance(t().db, { account: 'x'.repeat(10_000), asset: 'EUR' }));
    await expectRefused('INVALID_REQUEST', () => postTransaction(t().db, request({ entries: [debit('x'.repeat(10_000)), credit('alice')] })));
  });
  it('a lone surrogate or NUL → INVALID_REQUEST', async () => {
    await expectRefused('INVALID_REQUEST', () => createBalance(t().db, { account: 'a\uD800', asset: 'EUR' }));
    await expectRefused('INVALID_REQUEST', () => createBalance(t().db, { account: 'a\u0000b', asset: 'EUR' }));
  });
});

describe('hostile sizes', () => {
  it('10,000 entries in one posting are stored and delivered', async () => {
    const entries: PostingEntry[] = [];
    for (let i = 0; i < 5000; i++) {
      entries.push({ ...debit('world', '1'), ...(i % 100 === 0 ? { metadata: { i } } : {}) });
      entries.push(credit('alice', '1'));
    }
    const before = (await t().pool.query(`SELECT available::text FROM balance WHERE account = 'alice'`)).rows[0].available as string;
    const result = await expectStoredVerbatim(request({ metadata: { entries: 10_000 }, entries }));
    expect(result.operationIds).toHaveLength(10_000);
    const after = (await t().pool.query(`SELECT available::text FROM balance WHERE account = 'alice'`)).rows[0].available as string;
    expect(BigInt(after) - BigInt(before)).toBe(5000n);
  });
  it('10,001 entries → INVALID_REQUEST, nothing written', async () => {
    const entries = Array.from({ length: 10_001 }, (_, i) => (i === 0 ? debit('world', '10000') : credit('alice', '1')));
    await expectRefused('INVALID_REQUEST', () => postTransaction(t().db, request({ entries })));
  });
});

describe('hostile event ids through the enqueue helper', () => {
  it('an aggregate id that is SQL or an operator is a plain string in both stores', async () => {
    const ids = [`'; DROP TABLE outbox; --`, '{"$gt": ""}', '$where'];
    for (const aggregateId of ids) await enqueue(t().db, { aggregateType: 'transaction', aggregateId, version: 1, payload: { metadata: { aggregateId } } });
    await delivered();
    for (const aggregateId of ids) {
      const doc = await t().mongoDb.collection<Doc>('transaction_metadata').findOne({ _id: aggregateId });
      expect(doc).toMatchObject({ version: 1, metadata: { aggregateId } });
    }
    await expectCanaryIntact();
    await expect(t().pool.query('SELECT count(*) FROM outbox')).resolves.toBeDefined();
  });
  it('an aggregate type that is not a collection name → INVALID_EVENT', async () => {
    await expectRefused('INVALID_EVENT', () => enqueue(t().db, { aggregateType: '$cmd', aggregateId: 'x', version: 1, payload: { metadata: {} } }));
    await expectRefused('INVALID_EVENT', () => enqueue(t().db, { aggregateType: 'system.users', aggregateId: 'x', version: 1, payload: { metadata: {} } }));
  });
});
