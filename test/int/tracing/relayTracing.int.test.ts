/**
 * Trace context through the outbox, in-process: the writer posts inside an
 * active span (an SDK with an in-memory exporter, registered as an
 * application would), the relay continues the trace from the stored row.
 */
import { context, createTraceState, trace, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { enqueue } from '../../../src/outbox/enqueue.ts';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import { updateTransactionMetadata } from '../../../src/ledger/updateMetadata.ts';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const contextManager = new AsyncLocalStorageContextManager();
const writerTracer = provider.getTracer('writer-under-test');
let relays: Relay[] = [];

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
  await createBalance(t().db, { account: 'world', asset: 'EUR', allowNegative: true });
  await createBalance(t().db, { account: 'alice', asset: 'EUR' });
});
afterEach(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  relays = [];
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});

async function startRelay(traceMode: 'parent' | 'link'): Promise<Relay> {
  const relay = createRelay(testRelayConfig(t(), { traceMode }), { tracer: provider.getTracer('outbox-relay') });
  relays.push(relay);
  await relay.start();
  return relay;
}

/** Post inside an active writer span, as a traced request handler would; returns the span and the transaction id. */
async function postTraced(key: string): Promise<{ writer: Span; transactionId: string }> {
  return writerTracer.startActiveSpan('POST /payments', async (writer) => {
    try {
      const result = await postTransaction(t().db, {
        idempotencyKey: key,
        metadata: { key },
        entries: [
          { account: 'world', asset: 'EUR', direction: 'debit', amount: 100n },
          { account: 'alice', asset: 'EUR', direction: 'credit', amount: 100n },
        ],
      });
      return { writer, transactionId: result.transactionId };
    } finally {
      writer.end();
    }
  });
}

const eventSpansFor = (aggregateId: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.name === 'process transaction_metadata' && s.attributes['outbox.aggregate.id'] === aggregateId);

async function storedContext(aggregateId: string): Promise<unknown> {
  const { rows } = await t().pool.query(`SELECT trace_context FROM outbox WHERE aggregate_id = $1 UNION ALL SELECT trace_context FROM outbox_delivered WHERE aggregate_id = $1`, [aggregateId]);
  return rows[0]?.trace_context;
}

describe('trace context through the outbox', () => {
  it('parent mode: the event span has the writer span as parent, in the writer trace, with messaging and database attributes', async () => {
    await startRelay('parent');
    const { writer, transactionId } = await postTraced('traced-parent');
    const [span] = await waitFor(() => {
      const spans = eventSpansFor(transactionId);
      return spans.length > 0 ? spans : undefined;
    });
    expect(await storedContext(transactionId)).toEqual({ traceparent: `00-${writer.spanContext().traceId}-${writer.spanContext().spanId}-01` });
    expect(span!.spanContext().traceId).toBe(writer.spanContext().traceId);
    expect(span!.parentSpanContext?.spanId).toBe(writer.spanContext().spanId);
    expect(span!.attributes).toMatchObject({
      'messaging.system': 'postgresql_outbox',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'transaction_metadata',
      'db.system': 'mongodb',
      'db.system.name': 'mongodb',
      'db.collection.name': 'transaction_metadata',
      'outbox.aggregate.type': 'transaction',
      'outbox.aggregate.id': transactionId,
      'outbox.event.version': 1,
      'outbox.event.attempts': 0,
      'outbox.outcome': 'applied',
    });
    expect(typeof span!.attributes['messaging.message.id']).toBe('string');
    // The batch span covers claim → sink write → mark, in a trace of its own, linked from the event span.
    const batch = exporter.getFinishedSpans().find((s) => s.name === 'process outbox' && s.spanContext().spanId === span!.links[0]?.context.spanId);
    expect(batch, 'the event span links to its batch span').toBeDefined();
    expect(batch!.events.map((e) => e.name)).toEqual(['claimed', 'sink write started', 'sink acknowledged']);
  });

  it('link mode: the event span belongs to the relay batch trace and links to the writer span', async () => {
    await startRelay('link');
    const { writer, transactionId } = await postTraced('traced-link');
    const [span] = await waitFor(() => {
      const spans = eventSpansFor(transactionId);
      return spans.length > 0 ? spans : undefined;
    });
    expect(span!.spanContext().traceId).not.toBe(writer.spanContext().traceId);
    expect(span!.links.map((l) => [l.context.traceId, l.context.spanId])).toEqual([[writer.spanContext().traceId, writer.spanContext().spanId]]);
    const batch = exporter.getFinishedSpans().find((s) => s.name === 'process outbox' && s.spanContext().spanId === span!.parentSpanContext?.spanId);
    expect(batch?.spanContext().traceId).toBe(span!.spanContext().traceId);
  });

  it('updateTransactionMetadata and enqueue capture the context active when they write, not when the relay sends', async () => {
    const { transactionId } = await postTraced('traced-update');
    const updater = await writerTracer.startActiveSpan('PATCH /payments', async (span) => {
      await updateTransactionMetadata(t().db, transactionId, { reviewed: true });
      span.end();
      return span;
    });
    const enqueuer = await writerTracer.startActiveSpan('custom', async (span) => {
      const client = await t().pool.connect();
      try {
        await client.query('BEGIN');
        await enqueue(client, { aggregateType: 'transaction', aggregateId: 'enqueued-traced', version: 1, payload: { metadata: { a: 1 } } });
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      span.end();
      return span;
    });
    const { rows } = await t().pool.query(`SELECT aggregate_id, version, trace_context FROM outbox WHERE aggregate_id = ANY($1) ORDER BY id`, [[transactionId, 'enqueued-traced']]);
    const byKey = new Map(rows.map((r) => [`${r.aggregate_id}/v${r.version}`, r.trace_context?.traceparent]));
    expect(byKey.get(`${transactionId}/v2`)).toBe(`00-${updater.spanContext().traceId}-${updater.spanContext().spanId}-01`);
    expect(byKey.get('enqueued-traced/v1')).toBe(`00-${enqueuer.spanContext().traceId}-${enqueuer.spanContext().spanId}-01`);
  });

  it('an oversized tracestate is dropped and a malformed context is not stored; the postings succeed all the same', async () => {
    const traceId = 'a'.repeat(32);
    const spanId = 'b'.repeat(16);
    // 32 members of 22 characters: valid for the API, over the 512 characters we keep.
    const oversized = createTraceState(Array.from({ length: 32 }, (_, i) => `k${String(i).padStart(2, '0')}=${'v'.repeat(17)}`).join(','));
    const post = (key: string) =>
      postTransaction(t().db, { idempotencyKey: key, metadata: { key }, entries: [{ account: 'world', asset: 'EUR', direction: 'debit', amount: 1n }, { account: 'alice', asset: 'EUR', direction: 'credit', amount: 1n }] });
    const big = await context.with(trace.setSpanContext(context.active(), { traceId, spanId, traceFlags: 1, isRemote: true, traceState: oversized }), () => post('ctx-oversized'));
    const bad = await context.with(trace.setSpanContext(context.active(), { traceId: 'NOT-HEX'.padEnd(32, 'Z'), spanId, traceFlags: 1 }), () => post('ctx-malformed'));
    expect(await storedContext(big.transactionId)).toEqual({ traceparent: `00-${traceId}-${spanId}-01` });
    expect(await storedContext(bad.transactionId)).toBeNull();
  });

  it('an event that fails permanently records the error on its span with its classification', async () => {
    await startRelay('parent');
    await writerTracer.startActiveSpan('bad', async (span) => {
      const client = await t().pool.connect();
      try {
        await client.query('BEGIN');
        await enqueue(client, { aggregateType: 'transaction', aggregateId: 'poison-traced', version: 1, payload: { metadata: { a: 1 } } });
        // A payload the writer API would refuse, written behind its back: MongoDB rejects a $-prefixed key.
        await client.query(`UPDATE outbox SET payload = '{"metadata": {"$bad": 1}}' WHERE aggregate_id = 'poison-traced'`);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      span.end();
    });
    const [span] = await waitFor(() => {
      const spans = eventSpansFor('poison-traced');
      return spans.length > 0 ? spans : undefined;
    });
    expect(span!.status.code).toBe(2); // ERROR
    expect(span!.attributes['error.type']).toBe('permanent');
    expect(span!.events.some((e) => e.name === 'exception')).toBe(true);
  });
});
