/**
 * The relay's tracing configuration, from the standard OpenTelemetry
 * environment variables (not OUTBOX_RELAY_*: operators already know these,
 * and collectors' docs use them). Resolved once, frozen; a bad value fails at
 * start with a ConfigError naming the variable. Tracing is off unless
 * OTEL_TRACES_EXPORTER asks for an exporter, and while it is off nothing of
 * the SDK is loaded (see loadTracing.ts).
 */
import { ConfigError } from '../errors.ts';

export type TracesExporter = 'otlp' | 'console';
export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type SamplerName = 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';

export type TracingConfig =
  | Readonly<{ enabled: false }>
  | Readonly<{
      enabled: true;
      exporters: readonly TracesExporter[];
      protocol: OtlpProtocol;
      /** Full URL spans are POSTed to (…/v1/traces). */
      endpoint: string;
      serviceName: string;
      sampler: SamplerName;
      /** For the ratio samplers: the share of traces kept, 0–1. */
      samplerRatio: number;
      /** BatchSpanProcessor's delay between exports. */
      scheduleDelayMs: number;
    }>;

const SAMPLERS: readonly SamplerName[] = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];
const DEFAULT_ENDPOINT = 'http://localhost:4318';

function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

/** Resolve OTEL_* into a TracingConfig; throws ConfigError naming the variable on a bad value. */
export function resolveTracingConfig(env: NodeJS.ProcessEnv = process.env): TracingConfig {
  const disabled = read(env, 'OTEL_SDK_DISABLED');
  if (disabled !== undefined && !['true', 'false'].includes(disabled.toLowerCase())) throw new ConfigError('OTEL_SDK_DISABLED', `must be true or false (got ${JSON.stringify(disabled.slice(0, 40))})`);
  const exporters = parseExporters(read(env, 'OTEL_TRACES_EXPORTER'));
  if (disabled?.toLowerCase() === 'true' || exporters.length === 0) return Object.freeze({ enabled: false });

  const protocolVariable = read(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = read(env, protocolVariable) ?? 'http/protobuf';
  if (protocol === 'grpc') throw new ConfigError(protocolVariable, 'grpc is not supported by the relay; use http/protobuf (the default) or http/json');
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') throw new ConfigError(protocolVariable, `must be http/protobuf or http/json (got ${JSON.stringify(protocol.slice(0, 40))})`);

  const sampler = (read(env, 'OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on').toLowerCase();
  if (!(SAMPLERS as readonly string[]).includes(sampler)) throw new ConfigError('OTEL_TRACES_SAMPLER', `must be one of ${SAMPLERS.join(', ')} (got ${JSON.stringify(sampler.slice(0, 40))})`);
  const ratioRaw = read(env, 'OTEL_TRACES_SAMPLER_ARG');
  let samplerRatio = 1;
  if (ratioRaw !== undefined && sampler.endsWith('traceidratio')) {
    samplerRatio = Number(ratioRaw);
    if (!Number.isFinite(samplerRatio) || samplerRatio < 0 || samplerRatio > 1) throw new ConfigError('OTEL_TRACES_SAMPLER_ARG', `must be a number from 0 to 1 (got ${JSON.stringify(ratioRaw.slice(0, 40))})`);
  }

  const serviceName = read(env, 'OTEL_SERVICE_NAME') ?? 'outbox-relay';
  if (serviceName.length > 255) throw new ConfigError('OTEL_SERVICE_NAME', 'must be at most 255 characters');

  const delayRaw = read(env, 'OTEL_BSP_SCHEDULE_DELAY');
  const scheduleDelayMs = delayRaw === undefined ? 5000 : Number(delayRaw);
  if (!Number.isInteger(scheduleDelayMs) || scheduleDelayMs < 1 || scheduleDelayMs > 3_600_000) throw new ConfigError('OTEL_BSP_SCHEDULE_DELAY', `must be a whole number of milliseconds from 1 to 3600000 (got ${JSON.stringify(delayRaw?.slice(0, 40))})`);

  return Object.freeze({
    enabled: true,
    exporters: Object.freeze(exporters),
    protocol,
    endpoint: tracesEndpoint(env),
    serviceName,
    sampler: sampler as SamplerName,
    samplerRatio,
    scheduleDelayMs,
  });
}

function parseExporters(raw: string | undefined): TracesExporter[] {
  if (raw === undefined) return [];
  const names = [...new Set(raw.split(',').map((n) => n.trim().toLowerCase()).filter((n) => n !== ''))];
  const unknown = names.filter((n) => n !== 'otlp' && n !== 'console' && n !== 'none');
  if (unknown.length > 0) throw new ConfigError('OTEL_TRACES_EXPORTER', `unsupported exporter ${unknown.map((n) => JSON.stringify(n.slice(0, 40))).join(', ')}; use otlp, console or none`);
  if (names.includes('none')) {
    if (names.length > 1) throw new ConfigError('OTEL_TRACES_EXPORTER', 'none cannot be combined with other exporters');
    return [];
  }
  return names as TracesExporter[];
}

/**
 * The per-signal variable is used as given; the base endpoint gets
 * `/v1/traces` appended (the OTLP exporter spec). Values are never echoed:
 * an endpoint URL may carry credentials.
 */
function tracesEndpoint(env: NodeJS.ProcessEnv): string {
  const signal = read(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (signal !== undefined) return httpUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', signal).href;
  const base = httpUrl('OTEL_EXPORTER_OTLP_ENDPOINT', read(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') ?? DEFAULT_ENDPOINT);
  base.pathname = `${base.pathname.replace(/\/+$/, '')}/v1/traces`;
  return base.href;
}

function httpUrl(variable: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, 'must be an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(variable, 'must be an http:// or https:// URL');
  return url;
}
