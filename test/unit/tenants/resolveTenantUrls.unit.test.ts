import { describe, expect, it } from 'vitest';
import { resolveTenantUrls } from '../../../src/tenants/resolveTenantUrls.ts';
import type { TenantRecord } from '../../../src/tenants/tenantTypes.ts';

const base: TenantRecord = {
  id: 'acme',
  databaseUrl: 'postgres://pgbouncer:6432/acme',
  databaseUrlEnv: null,
  mongoUrl: 'mongodb://mongo:27017',
  mongoUrlEnv: null,
  mongoDb: 'acme',
  listenDatabaseUrl: null,
  listenDatabaseUrlEnv: null,
  paused: false,
  weight: 1,
  owner: null,
  leaseExpiresAt: null,
  health: null,
  healthReason: null,
  healthAt: null,
};

describe("a tenant's listen URL", () => {
  it('is its database URL unless one is registered', () => {
    expect(resolveTenantUrls(base, {}, undefined)).toMatchObject({ ok: true, listenDatabaseUrl: 'postgres://pgbouncer:6432/acme' });
    expect(resolveTenantUrls({ ...base, listenDatabaseUrl: 'postgres://direct:5432/acme' }, {}, undefined)).toMatchObject({ ok: true, databaseUrl: 'postgres://pgbouncer:6432/acme', listenDatabaseUrl: 'postgres://direct:5432/acme' });
    expect(resolveTenantUrls({ ...base, listenDatabaseUrlEnv: 'ACME_LISTEN' }, { ACME_LISTEN: 'postgresql://direct/acme' }, undefined)).toMatchObject({ ok: true, listenDatabaseUrl: 'postgresql://direct/acme' });
  });

  it('never falls back to the database URL when its variable is missing or bad: the tenant is unhealthy with the reason', () => {
    expect(resolveTenantUrls({ ...base, listenDatabaseUrlEnv: 'ACME_LISTEN' }, {}, undefined)).toEqual({ ok: false, reason: 'environment variable ACME_LISTEN (its listen URL) is not set' });
    expect(resolveTenantUrls({ ...base, listenDatabaseUrlEnv: 'ACME_LISTEN' }, { ACME_LISTEN: 'http://direct/acme' }, undefined)).toEqual({ ok: false, reason: 'its listen URL is not a postgres:// URL' });
  });
});
