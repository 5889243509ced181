import { resolveTracingConfig } from './tracingConfig.ts';
import type { StartedTracing } from './startTracing.ts';

/**
 * Tracing for a relay process, from OTEL_* variables: undefined when they
 * leave it off, and then no module of the SDK is loaded (the import below is
 * dynamic on purpose; test/unit/relayFootprint.unit.test.ts proves it).
 * Bad values throw ConfigError before anything starts.
 */
export async function loadTracing(env: NodeJS.ProcessEnv = process.env): Promise<StartedTracing | undefined> {
  const config = resolveTracingConfig(env);
  if (!config.enabled) return undefined;
  const { startTracing } = await import('./startTracing.ts');
  return startTracing(config);
}
