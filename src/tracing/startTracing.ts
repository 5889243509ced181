/**
 * The OpenTelemetry SDK for the relay process. Loaded only by loadTracing,
 * only when OTEL_TRACES_EXPORTER turns tracing on: the SDK, its exporters and
 * protobuf cost memory and start time a relay without tracing should not pay
 * (measured in bench/tracing.ts).
 *
 * A minimal set, not @opentelemetry/sdk-node with auto-instrumentations: the
 * relay makes its own spans (batch and event), and monkey-patching pg and
 * mongodb would add a span per query on the hot path.
 */
import { trace, type Tracer } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { TracingConfig } from './tracingConfig.ts';

export interface StartedTracing {
  tracer: Tracer;
  /** Export what is buffered and stop; call after the relay stopped. */
  shutdown(): Promise<void>;
}

export const TRACER_NAME = 'outbox-relay';

/** Build the provider, register it globally (so the API finds it) and return the relay's tracer. */
export async function startTracing(config: Extract<TracingConfig, { enabled: true }>, version = '0.1.0'): Promise<StartedTracing> {
  const processors: SpanProcessor[] = [];
  for (const name of config.exporters) {
    if (name === 'console') processors.push(new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }));
    else processors.push(new BatchSpanProcessor({ exporter: await otlpExporter(config), scheduledDelayMillis: config.scheduleDelayMs }));
  }
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName, [ATTR_SERVICE_VERSION]: version }),
    sampler: sampler(config),
    spanProcessors: processors,
  });
  trace.setGlobalTracerProvider(provider);
  return {
    tracer: provider.getTracer(TRACER_NAME, version),
    shutdown: () => provider.shutdown(),
  };
}

async function otlpExporter(config: Extract<TracingConfig, { enabled: true }>): Promise<SpanExporter> {
  // Each protocol's exporter is loaded only when chosen (protobuf brings protobufjs).
  if (config.protocol === 'http/json') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter({ url: config.endpoint });
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter({ url: config.endpoint });
}

function sampler(config: Extract<TracingConfig, { enabled: true }>): Sampler {
  switch (config.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(config.samplerRatio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.samplerRatio) });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}
