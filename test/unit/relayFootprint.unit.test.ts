/**
 * The relay process must not load drizzle-orm: importing it costs about
 * 230 MiB of heap at start (src/db/pool.ts), over the relay's memory budget.
 * Nor the OpenTelemetry SDK while tracing is off: only @opentelemetry/api,
 * which writers and the relay read the active context through.
 * Loads the relay in a fresh Node process and records every module it resolves.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const RELAY = fileURLToPath(new URL('../../src/relay/relay.ts', import.meta.url));
const PUBLIC_API = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
const LOAD_TRACING = fileURLToPath(new URL('../../src/tracing/loadTracing.ts', import.meta.url));

/** Every module URL resolved while `body` runs (after the entry is imported as `entry`). */
function modulesLoadedBy(entry: string, body = '', env: Record<string, string> = {}): string[] {
  const script = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r; } });
    const entry = await import(${JSON.stringify(entry)});
    ${body}
    console.log(JSON.stringify(seen));`;
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OTEL_')));
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...clean, OUTBOX_RELAY_LOG_LEVEL: 'silent', ...env } });
  return JSON.parse(out.trim().split('\n').pop() ?? '[]') as string[];
}

/** OpenTelemetry packages other than the API (the SDK, exporters, resources, semantic conventions). */
const sdkModules = (urls: string[]) => urls.filter((url) => /\/@opentelemetry\/(?!api\/)/.test(url) || url.includes('/protobufjs/'));

// Each test starts a Node process; on a loaded 2-core machine that alone can take seconds.
describe('relay footprint', { timeout: 60_000 }, () => {
  it('loading the relay never loads drizzle-orm', () => {
    const loaded = modulesLoadedBy(RELAY);
    expect(loaded.length, 'no module was recorded').toBeGreaterThan(20);
    expect(loaded.filter((url) => url.includes('/drizzle-orm/'))).toEqual([]);
  });

  it('importing the public API, as a plain-pg writer does, never loads drizzle-orm', () => {
    const loaded = modulesLoadedBy(PUBLIC_API);
    expect(loaded.some((url) => url.includes('/node_modules/pg/')), 'pg was not recorded').toBe(true);
    expect(loaded.filter((url) => url.includes('/drizzle-orm/'))).toEqual([]);
  });

  it('with tracing off (no OTEL_TRACES_EXPORTER), the relay and loadTracing load no OpenTelemetry SDK module', () => {
    const loaded = modulesLoadedBy(RELAY, `const t = await (await import(${JSON.stringify(LOAD_TRACING)})).loadTracing(process.env); if (t !== undefined) throw new Error('tracing on');`);
    expect(loaded.some((url) => url.includes('/@opentelemetry/api/')), 'the API is what the relay uses').toBe(true);
    expect(sdkModules(loaded)).toEqual([]);
  });

  it('with OTEL_TRACES_EXPORTER=otlp, loadTracing loads the SDK and the exporter of the chosen protocol only', () => {
    const body = `const t = await (await import(${JSON.stringify(LOAD_TRACING)})).loadTracing(process.env); await t.shutdown();`;
    const json = modulesLoadedBy(RELAY, body, { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
    expect(json.some((url) => url.includes('/@opentelemetry/sdk-trace/'))).toBe(true);
    expect(json.some((url) => url.includes('/@opentelemetry/exporter-trace-otlp-http/'))).toBe(true);
    expect(json.filter((url) => url.includes('/@opentelemetry/exporter-trace-otlp-proto/'))).toEqual([]);
  });
});
