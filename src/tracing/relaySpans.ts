/**
 * The relay's spans, through @opentelemetry/api only (the SDK, when tracing
 * is on, is registered by the process; see loadTracing.ts):
 *
 * - one batch span, `process outbox`, from the claim to the last mark
 *   (claim → sink write → mark delivered/failed), root of its own trace;
 * - one span per event, `process <collection>`, from the sink write to the
 *   mark, whose parent is the writer's stored trace context (`parent` mode,
 *   the default) or which links to it under the batch span (`link` mode, for
 *   those who keep request traces short). Events without a stored context are
 *   children of the batch span.
 *
 * Attribute names follow the OpenTelemetry semantic conventions (messaging
 * and database, semconv 1.45). They are spelled here rather than imported from
 * @opentelemetry/semantic-conventions, whose incubating entry point is large
 * and would load into every relay, traced or not; a unit test checks them
 * against the package.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  createTraceState,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { metadataCollectionName } from '../sink/metadataSink.ts';
import type { OutboxEvent } from '../types.ts';
import { parseTraceparent, validateTracestate } from './traceContext.ts';

export const ATTR = {
  messagingSystem: 'messaging.system',
  messagingSystemName: 'messaging.system.name',
  messagingOperationType: 'messaging.operation.type',
  messagingOperationName: 'messaging.operation.name',
  messagingDestinationName: 'messaging.destination.name',
  messagingMessageId: 'messaging.message.id',
  messagingBatchMessageCount: 'messaging.batch.message_count',
  dbSystem: 'db.system',
  dbSystemName: 'db.system.name',
  dbNamespace: 'db.namespace',
  dbCollectionName: 'db.collection.name',
  dbOperationName: 'db.operation.name',
  errorType: 'error.type',
  // This project's own, under its own prefix.
  aggregateType: 'outbox.aggregate.type',
  aggregateId: 'outbox.aggregate.id',
  eventVersion: 'outbox.event.version',
  eventType: 'outbox.event.type',
  attempts: 'outbox.event.attempts',
  outcome: 'outbox.outcome',
  timeInOutboxMs: 'outbox.time_in_outbox_ms',
} as const;

/** messaging.system(.name): the queue is the outbox table in PostgreSQL. */
export const MESSAGING_SYSTEM = 'postgresql_outbox';

export type TraceMode = 'parent' | 'link';

export interface RelayTracing {
  tracer: Tracer;
  mode: TraceMode;
  /** MongoDB database name (db.namespace). */
  mongoDb: string;
}

/** How one event's delivery ended, as its span records it. */
export type EventSpanResult =
  /** Acknowledged and marked; `alreadyStored`: the fence found a newer or equal version (a duplicate). */
  | { kind: 'delivered'; alreadyStored: boolean; timeInOutboxMs: number }
  /** Acknowledged, but our lease had run out and another relay holds the row. */
  | { kind: 'lost' }
  /** The sink refused this event (permanent for it); retried with backoff, or parked as dead. */
  | { kind: 'failed'; error: string; dead: boolean }
  /** The sink stayed unavailable (transient): the batch was released untouched. */
  | { kind: 'released'; error: Error };

/** A stored writer context as a remote SpanContext, or undefined when there is none (or it is invalid). */
export function writerSpanContext(event: Pick<OutboxEvent, 'traceContext'>): SpanContext | undefined {
  const stored = event.traceContext;
  if (!stored) return undefined;
  const parsed = parseTraceparent(stored.traceparent);
  if (!parsed) return undefined;
  const state = validateTracestate(stored.tracestate);
  return { ...parsed, isRemote: true, ...(state ? { traceState: createTraceState(state) } : {}) };
}

/** The spans of one claimed batch. Create with startBatchTrace after a non-empty claim. */
export class BatchTrace {
  private readonly tracing: RelayTracing;
  private readonly batchSpan: Span;
  private readonly events: readonly OutboxEvent[];
  private readonly eventSpans = new Map<number, Span>();

  constructor(tracing: RelayTracing, events: readonly OutboxEvent[], claim: { startedAt: number; endedAt: number }) {
    this.tracing = tracing;
    this.events = events;
    this.batchSpan = tracing.tracer.startSpan(
      'process outbox',
      {
        kind: SpanKind.CONSUMER,
        startTime: claim.startedAt,
        root: true,
        attributes: {
          [ATTR.messagingSystem]: MESSAGING_SYSTEM,
          [ATTR.messagingSystemName]: MESSAGING_SYSTEM,
          [ATTR.messagingOperationType]: 'process',
          [ATTR.messagingOperationName]: 'process',
          [ATTR.messagingBatchMessageCount]: events.length,
          [ATTR.dbSystem]: 'mongodb',
          [ATTR.dbSystemName]: 'mongodb',
          [ATTR.dbNamespace]: tracing.mongoDb,
        },
      },
      ROOT_CONTEXT,
    );
    this.batchSpan.addEvent('claimed', { [ATTR.messagingBatchMessageCount]: events.length }, claim.endedAt);
  }

  /** Start one span per event, just before the sink write. */
  startEvents(): void {
    const batchContext = trace.setSpan(ROOT_CONTEXT, this.batchSpan);
    const batchLink: Link = { context: this.batchSpan.spanContext() };
    for (const event of this.events) {
      const writer = writerSpanContext(event);
      let parent: Context = batchContext;
      const links: Link[] = [];
      if (writer && this.tracing.mode === 'parent') {
        parent = trace.setSpanContext(ROOT_CONTEXT, writer);
        links.push(batchLink);
      } else if (writer) {
        links.push({ context: writer });
      }
      const collection = metadataCollectionName(event.aggregateType);
      const attributes: Attributes = {
        [ATTR.messagingSystem]: MESSAGING_SYSTEM,
        [ATTR.messagingSystemName]: MESSAGING_SYSTEM,
        [ATTR.messagingOperationType]: 'process',
        [ATTR.messagingOperationName]: 'process',
        [ATTR.messagingDestinationName]: collection,
        [ATTR.messagingMessageId]: event.eventId,
        [ATTR.dbSystem]: 'mongodb',
        [ATTR.dbSystemName]: 'mongodb',
        [ATTR.dbNamespace]: this.tracing.mongoDb,
        [ATTR.dbCollectionName]: collection,
        [ATTR.dbOperationName]: 'bulkWrite',
        [ATTR.aggregateType]: event.aggregateType,
        [ATTR.aggregateId]: event.aggregateId,
        [ATTR.eventVersion]: event.version,
        [ATTR.eventType]: event.eventType,
        [ATTR.attempts]: event.attempts,
      };
      this.eventSpans.set(event.id, this.tracing.tracer.startSpan(`process ${collection}`, { kind: SpanKind.CONSUMER, attributes, links }, parent));
    }
    this.batchSpan.addEvent('sink write started');
  }

  /** The sink answered (or gave up); marks follow. */
  sinkAnswered(ok: boolean): void {
    this.batchSpan.addEvent(ok ? 'sink acknowledged' : 'sink unavailable');
  }

  /** End one event's span with how its delivery ended. */
  endEvent(id: number, result: EventSpanResult): void {
    const span = this.eventSpans.get(id);
    if (!span) return;
    this.eventSpans.delete(id);
    switch (result.kind) {
      case 'delivered':
        span.setAttribute(ATTR.outcome, result.alreadyStored ? 'duplicate' : 'applied');
        span.setAttribute(ATTR.timeInOutboxMs, result.timeInOutboxMs);
        break;
      case 'lost':
        span.setAttribute(ATTR.outcome, 'lost');
        break;
      case 'failed':
        span.setAttribute(ATTR.outcome, result.dead ? 'dead' : 'failed');
        recordError(span, 'permanent', new Error(result.error));
        break;
      case 'released':
        span.setAttribute(ATTR.outcome, 'released');
        recordError(span, 'transient', result.error);
        break;
    }
    span.end();
  }

  /**
   * End the batch span (and any event span still open: an unexpected error
   * left it unsettled). `error` marks the batch as failed.
   */
  end(error?: { classification: 'transient' | 'permanent' | 'unexpected'; error: unknown }): void {
    for (const [, span] of this.eventSpans) {
      if (error) recordError(span, error.classification, error.error);
      span.end();
    }
    this.eventSpans.clear();
    if (error) recordError(this.batchSpan, error.classification, error.error);
    this.batchSpan.end();
  }
}

function recordError(span: Span, classification: string, error: unknown): void {
  const err = error instanceof Error ? error : new Error(String(error));
  span.recordException(err);
  span.setAttribute(ATTR.errorType, classification);
  span.setStatus({ code: SpanStatusCode.ERROR, message: `${classification}: ${err.message}`.slice(0, 500) });
}
