/**
 * `outbox-relay demo --trace`: one trace end to end without a collector. The
 * SDK runs in the demo process with an in-memory exporter; the writer posts
 * inside a span (as a request handler would), the relay continues the trace
 * from the outbox row, and the demo prints, for a sample of postings, the
 * trace id, the writer's span and the relay's event span.
 */
import { context, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

export const DEMO_WRITER_SPAN = 'demo top-up';
/** Spans kept in memory; a long demo keeps the first ones only. */
const MAX_SPANS = 20_000;

export interface DemoTracing {
  tracer: Tracer;
  /** Lines describing up to `sample` postings whose relay span ended. */
  report(sample: number): string[];
  shutdown(): Promise<void>;
}

class CappedExporter extends InMemorySpanExporter {
  override export(spans: ReadableSpan[], done: Parameters<InMemorySpanExporter['export']>[1]): void {
    const room = MAX_SPANS - this.getFinishedSpans().length;
    super.export(room > 0 ? spans.slice(0, room) : [], done);
  }
}

export function startDemoTracing(): DemoTracing {
  const exporter = new CappedExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'outbox-relay-demo' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  // A context manager makes the writer's span the active one across awaits, which is what postTransaction reads.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(provider);
  return {
    tracer: provider.getTracer('outbox-relay-demo'),
    report(sample) {
      const spans = exporter.getFinishedSpans();
      const relaySpans = new Map<string, ReadableSpan[]>();
      for (const span of spans) {
        if (span.name.startsWith('process ') && span.name !== 'process outbox') {
          const list = relaySpans.get(span.spanContext().traceId);
          if (list) list.push(span);
          else relaySpans.set(span.spanContext().traceId, [span]);
        }
      }
      const lines: string[] = [];
      for (const writer of spans) {
        if (lines.length >= sample) break;
        if (writer.name !== DEMO_WRITER_SPAN) continue;
        const traceId = writer.spanContext().traceId;
        const relay = relaySpans.get(traceId);
        if (!relay) continue;
        const parts = relay.map((s) => {
          const inOutbox = s.attributes['outbox.time_in_outbox_ms'];
          const parented = s.parentSpanContext?.spanId === writer.spanContext().spanId ? 'child of the writer span' : 'linked';
          return `${s.name} ${ms(s.duration)} (${parented}${typeof inOutbox === 'number' ? `, ${inOutbox.toFixed(1)} ms in outbox` : ''})`;
        });
        lines.push(`trace ${traceId}  writer ${ms(writer.duration)}  relay: ${parts.join('; ')}`);
      }
      return lines;
    },
    async shutdown() {
      await provider.shutdown();
      contextManager.disable();
    },
  };
}

function ms(duration: [number, number]): string {
  return `${(duration[0] * 1000 + duration[1] / 1e6).toFixed(2)} ms`;
}
