import { redactUrl } from '../logger.ts';
import type { TenantRecord } from './tenantTypes.ts';

export type ResolvedUrls =
  | { ok: true; databaseUrl: string; mongoUrl: string; /** databaseUrl unless a listen URL is registered. */ listenDatabaseUrl: string }
  | { ok: false; reason: string };

function validUrl(value: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/**
 * A tenant's URLs as this process sees them: inline, or read from the named
 * environment variable; a tenant without a Mongo URL uses the relay's own,
 * one without a listen URL listens on its database URL.
 * Never falls back to another database: a missing or bad variable is a reason
 * the tenant is unhealthy, not a cue to use DATABASE_URL.
 */
export function resolveTenantUrls(tenant: TenantRecord, env: NodeJS.ProcessEnv, defaultMongoUrl: string | undefined): ResolvedUrls {
  const databaseUrl = tenant.databaseUrl ?? (tenant.databaseUrlEnv ? env[tenant.databaseUrlEnv] : undefined);
  if (!databaseUrl) return { ok: false, reason: `environment variable ${tenant.databaseUrlEnv ?? '?'} (its database URL) is not set` };
  if (!validUrl(databaseUrl, ['postgres:', 'postgresql:'])) return { ok: false, reason: 'its database URL is not a postgres:// URL' };
  const mongoUrl = tenant.mongoUrl ?? (tenant.mongoUrlEnv ? env[tenant.mongoUrlEnv] : defaultMongoUrl);
  if (!mongoUrl) return { ok: false, reason: tenant.mongoUrlEnv ? `environment variable ${tenant.mongoUrlEnv} (its MongoDB URL) is not set` : 'no MongoDB URL: register one or set MONGO_URL' };
  if (!validUrl(mongoUrl, ['mongodb:', 'mongodb+srv:'])) return { ok: false, reason: 'its MongoDB URL is not a mongodb:// URL' };
  const listenDatabaseUrl = tenant.listenDatabaseUrl ?? (tenant.listenDatabaseUrlEnv ? env[tenant.listenDatabaseUrlEnv] : databaseUrl);
  if (!listenDatabaseUrl) return { ok: false, reason: `environment variable ${tenant.listenDatabaseUrlEnv ?? '?'} (its listen URL) is not set` };
  if (!validUrl(listenDatabaseUrl, ['postgres:', 'postgresql:'])) return { ok: false, reason: 'its listen URL is not a postgres:// URL' };
  return { ok: true, databaseUrl, mongoUrl, listenDatabaseUrl };
}

/** How `tenant list` shows a URL: the variable's name, or the URL without its password. */
export function describeUrl(inline: string | null, envName: string | null, fallback: string): string {
  if (envName) return `$${envName}`;
  if (inline) return redactUrl(inline);
  return fallback;
}
