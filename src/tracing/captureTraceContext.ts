import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import { validateTraceContext, type TraceContext } from './traceContext.ts';

/**
 * The caller's active trace context, read through @opentelemetry/api only:
 * writers need no SDK. With none registered, the active context is the root
 * context and this returns null after one lookup, so the outbox stores nothing.
 * Captured when the outbox row is written, never when the relay sends it: a
 * context taken at dispatch belongs to the relay, not to the request.
 */
export function captureTraceContext(): TraceContext | null {
  const spanContext = trace.getSpanContext(context.active());
  if (!spanContext || !isSpanContextValid(spanContext)) return null;
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  const tracestate = spanContext.traceState?.serialize();
  return validateTraceContext({
    traceparent: `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`,
    ...(tracestate ? { tracestate } : {}),
  });
}
