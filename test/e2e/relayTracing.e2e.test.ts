/**
 * The relay as a process, configured the OpenTelemetry way (OTEL_* only),
 * exporting OTLP/HTTP JSON to a tiny receiver this test runs on a free
 * loopback port: the spans on the wire carry the writer's trace id.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBalance } from '../../src/ledger/createBalance.ts';
import { postTransaction } from '../../src/ledger/postTransaction.ts';
import { testRelayEnv } from '../helpers/relayConfig.ts';
import { spawnCli, startRelayProcess } from '../helpers/relayProcess.ts';
import { useTestDatabases } from '../helpers/testDatabases.ts';
import { waitFor } from '../helpers/waitFor.ts';

const t = useTestDatabases();

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  serviceName: string | undefined;
  attributes: Record<string, unknown>;
}

/** OTLP/JSON encodes ids as hex; accept base64 too, in case an exporter follows protobuf's JSON mapping. */
function hexId(value: unknown): string {
  if (typeof value !== 'string' || value === '') return '';
  return /^[0-9a-f]+$/i.test(value) && (value.length === 32 || value.length === 16) ? value.toLowerCase() : Buffer.from(value, 'base64').toString('hex');
}

function attributeMap(list: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of (list ?? []) as { key: string; value: Record<string, unknown> }[]) out[a.key] = Object.values(a.value ?? {})[0];
  return out;
}

/** A tiny OTLP/HTTP receiver: POST /v1/traces with a JSON body; remembers every span. */
function startReceiver(): Promise<{ server: Server; url: string; spans: ReceivedSpan[]; contentTypes: string[] }> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      contentTypes.push(String(req.headers['content-type']));
      try {
        const payload = JSON.parse(body) as { resourceSpans?: { resource?: { attributes?: unknown }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[] };
        for (const rs of payload.resourceSpans ?? []) {
          const serviceName = attributeMap(rs.resource?.attributes)['service.name'] as string | undefined;
          for (const ss of rs.scopeSpans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({ traceId: hexId(s.traceId), spanId: hexId(s.spanId), parentSpanId: hexId(s.parentSpanId), name: String(s.name), serviceName, attributes: attributeMap(s.attributes) });
            }
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, contentTypes })));
}

const provider = new TracerProvider();
const contextManager = new AsyncLocalStorageContextManager();
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
  receiver = await startReceiver();
  await createBalance(t().db, { account: 'world', asset: 'EUR', allowNegative: true });
  await createBalance(t().db, { account: 'bob', asset: 'EUR' });
});
afterAll(async () => {
  await new Promise((resolve) => receiver.server.close(resolve));
  await provider.shutdown();
  trace.disable();
  context.disable();
});

describe('tracing in the relay process', () => {
  it('OTEL_TRACES_EXPORTER=otlp over http/json: the received event span is the writer span\'s child, in the writer\'s trace', async () => {
    const writer = await provider.getTracer('writer').startActiveSpan('POST /payments', async (span) => {
      await postTransaction(t().db, {
        idempotencyKey: 'e2e-traced',
        metadata: { traced: true },
        entries: [
          { account: 'world', asset: 'EUR', direction: 'debit', amount: 5n },
          { account: 'bob', asset: 'EUR', direction: 'credit', amount: 5n },
        ],
      });
      span.end();
      return span.spanContext();
    });
    const relay = await startRelayProcess(
      testRelayEnv(t(), {
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_SERVICE_NAME: 'relay-under-test',
        OTEL_BSP_SCHEDULE_DELAY: '200',
      }),
    );
    try {
      const span = await waitFor(() => receiver.spans.find((s) => s.name === 'process transaction_metadata' && s.traceId === writer.traceId), { timeoutMs: 30_000 });
      expect(span.parentSpanId).toBe(writer.spanId);
      expect(span.serviceName).toBe('relay-under-test');
      expect(span.attributes).toMatchObject({ 'messaging.operation.type': 'process', 'messaging.destination.name': 'transaction_metadata', 'db.system.name': 'mongodb' });
      expect(receiver.spans.some((s) => s.name === 'process outbox')).toBe(true);
      expect(receiver.contentTypes.every((type) => type.startsWith('application/json'))).toBe(true);
    } finally {
      relay.child.kill('SIGTERM');
      expect((await relay.exited).code).toBe(0);
    }
  });

  it('demo --trace prints, for a sample of postings, the trace id and the relay span duration, without a collector', async () => {
    const proc = spawnCli(['demo', '--trace', '--duration', '3', '--rate', '10', '--customers', '3'], { DATABASE_URL: t().databaseUrl, MONGO_URL: t().mongoUrl, MONGO_DB: t().mongoDbName, OUTBOX_RELAY_OPS_PORT: 'off' });
    const { code } = await proc.exited;
    const out = proc.output();
    expect(code, out).toBe(0);
    expect(out).toContain('traces (writer span → relay event span, same trace id):');
    const lines = out.split('\n').filter((line) => /^\s+trace [0-9a-f]{32} {2}writer [0-9.]+ ms {2}relay: process transaction_metadata [0-9.]+ ms \(child of the writer span/.test(line));
    expect(lines.length, out).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(5);
  });

  it('a bad OTEL_* value stops the relay at start with exit code 2 and names the variable', async () => {
    const proc = spawnCli(['run'], testRelayEnv(t(), { OUTBOX_RELAY_OPS_PORT: 'off', OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }));
    expect((await proc.exited).code).toBe(2);
    expect(proc.output()).toContain('OTEL_EXPORTER_OTLP_PROTOCOL');
  });
});
