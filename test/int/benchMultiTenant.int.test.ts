/**
 * The multi-tenant benchmark (bench/multiTenant.ts) on a tiny size, so it
 * cannot rot: every figure was really measured by a `run --multi-tenant` process.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { runMultiTenantBench } from '../../bench/multiTenant.ts';

describe('multi-tenant bench (tiny)', () => {
  it('measures idle (cold) and hot cost per tenant, spread vs single-tenant drain and the fairness figure', { timeout: 300_000 }, async () => {
    const { databaseUrl, mongoUrl } = inject('services');
    const out = mkdtempSync(join(tmpdir(), 'mt-bench-'));
    try {
      const result = await runMultiTenantBench({ databaseUrl, mongoUrl, mode: 'tiny', out, log: () => {} });
      expect(result.tenants).toBe(4);
      // Idle tenants are cold: no LISTEN, less than one pool connection on average; hot ones listen.
      expect(result.idle.listenPerTenant).toBe(0);
      expect(result.idle.connectionsPerTenant).toBeLessThan(1);
      expect(result.hot.listenPerTenant).toBeGreaterThan(0);
      expect(result.idle.rssMiBBase).toBeGreaterThan(0);
      expect(result.drain.spreadEventsPerSecond).toBeGreaterThan(0);
      expect(result.drain.singleEventsPerSecond).toBeGreaterThan(0);
      expect(result.fairness.events).toBeGreaterThan(0);
      // GET /api/tenants was timed against the relay's real ops endpoint with 50 tenants registered.
      expect(result.operatorApi).toMatchObject({ tenantsRegistered: 50, requests: 200 });
      expect(result.operatorApi.medianMs).toBeGreaterThan(0);
      expect(result.operatorApi.p99Ms).toBeGreaterThanOrEqual(result.operatorApi.medianMs);
      expect(result.operatorApi.controlConnectionsIdle).toBeGreaterThan(0);
      expect(readFileSync(join(out, 'multi-tenant-latest.md'), 'utf8')).toContain('ratio spread / one');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
