import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.ts';
import { resolveTracingConfig } from '../../../src/tracing/tracingConfig.ts';

function configError(env: Record<string, string>): ConfigError {
  try {
    resolveTracingConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('resolveTracingConfig', () => {
  it('is off when OTEL_TRACES_EXPORTER is unset, empty or none, and when OTEL_SDK_DISABLED=true', () => {
    expect(resolveTracingConfig({})).toEqual({ enabled: false });
    expect(resolveTracingConfig({ OTEL_TRACES_EXPORTER: '' })).toEqual({ enabled: false });
    expect(resolveTracingConfig({ OTEL_TRACES_EXPORTER: 'none' })).toEqual({ enabled: false });
    expect(resolveTracingConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' })).toEqual({ enabled: false });
  });

  it('defaults as the OpenTelemetry spec does: http/protobuf to localhost:4318/v1/traces, parentbased_always_on', () => {
    expect(resolveTracingConfig({ OTEL_TRACES_EXPORTER: 'otlp' })).toEqual({
      enabled: true,
      exporters: ['otlp'],
      protocol: 'http/protobuf',
      endpoint: 'http://localhost:4318/v1/traces',
      serviceName: 'outbox-relay',
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
      scheduleDelayMs: 5000,
    });
  });

  it('reads protocol, endpoint, service name, sampler and its ratio', () => {
    const config = resolveTracingConfig({
      OTEL_TRACES_EXPORTER: 'otlp,console',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/otlp/',
      OTEL_SERVICE_NAME: 'relay-eu',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    expect(config).toMatchObject({ exporters: ['otlp', 'console'], protocol: 'http/json', endpoint: 'http://127.0.0.1:4318/otlp/v1/traces', serviceName: 'relay-eu', sampler: 'parentbased_traceidratio', samplerRatio: 0.25 });
  });

  it('uses the per-signal endpoint and protocol as given', () => {
    const config = resolveTracingConfig({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector:4318/custom', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' });
    expect(config).toMatchObject({ endpoint: 'https://collector:4318/custom', protocol: 'http/json' });
  });

  it.each([
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, 'OTEL_TRACES_EXPORTER'],
    [{ OTEL_TRACES_EXPORTER: 'none,otlp' }, 'OTEL_TRACES_EXPORTER'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'json' }, 'OTEL_EXPORTER_OTLP_PROTOCOL'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'udp' }, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://host/' }, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' }, 'OTEL_TRACES_SAMPLER_ARG'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SERVICE_NAME: 'x'.repeat(300) }, 'OTEL_SERVICE_NAME'],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_BSP_SCHEDULE_DELAY: 'soon' }, 'OTEL_BSP_SCHEDULE_DELAY'],
    [{ OTEL_SDK_DISABLED: 'maybe' }, 'OTEL_SDK_DISABLED'],
  ])('a bad value is a ConfigError naming the variable: %o', (env, variable) => {
    const error = configError(env);
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(variable);
  });

  it('never echoes an endpoint URL (it may carry credentials)', () => {
    const error = configError({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'gopher://user:s3cret@host' });
    expect(error.message).not.toContain('s3cret');
  });
});
