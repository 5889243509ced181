import { describe, expect, it } from 'vitest';
import { mayAccessTenant } from '../../../src/control/authenticate.ts';
import { sortTenants, type TenantOverview } from '../../../src/control/fleetApi.ts';
import { overviewOf } from '../../../src/runtime/tenantOperator.ts';

const row = (over: Partial<Parameters<typeof overviewOf>[0]> = {}): Parameters<typeof overviewOf>[0] => ({
  id: 't1',
  paused: false,
  owner: 'replica-a',
  lease_live: true,
  health: 'healthy',
  health_reason: null,
  lag_sample: { pendingCount: 3, oldestPendingSeconds: 12, inFlightCount: 0, deadCount: 1, deliveredLastMinute: 40, relaysAlive: 1, lastDeliveredAt: null, relays: [], paused: [] },
  lag_sampled_at: new Date('2026-12-05T10:00:00Z'),
  lag_sampled_by: 'replica-a',
  ...over,
});

const tenant = (id: string, over: Partial<TenantOverview>): TenantOverview => ({
  id,
  state: 'active',
  reason: null,
  pausedTypes: [],
  pendingCount: 0,
  oldestPendingSeconds: null,
  deadCount: 0,
  deliveredLastMinute: 0,
  heldBy: 'r',
  sampledAt: null,
  sampledBy: null,
  ...over,
});

describe('fleet overview', () => {
  it('states, first match wins: registry pause, no holder, unhealthy (with its reason), paused within (relay_pause *), active', () => {
    expect(overviewOf(row({ paused: true })).state).toBe('paused');
    const unassigned = overviewOf(row({ lease_live: false }));
    expect([unassigned.state, unassigned.heldBy]).toEqual(['unassigned', null]);
    expect(overviewOf(row({ health: 'unhealthy', health_reason: 'PostgreSQL unreachable: <b>x</b>' }))).toMatchObject({ state: 'unhealthy', reason: 'PostgreSQL unreachable: <b>x</b>' });
    const pausedWithin = row();
    pausedWithin.lag_sample!.paused = [
      { scope: '*', reason: 'incident', paused_by: 'alice', paused_at: '2026-12-05T10:00:00Z' },
      { scope: 'operation', reason: 'x', paused_by: 'bob', paused_at: '2026-12-05T10:00:00Z' },
    ];
    expect(overviewOf(pausedWithin)).toMatchObject({ state: 'paused', reason: 'paused by alice: incident', pausedTypes: ['operation'] });
    expect(overviewOf(row())).toMatchObject({ state: 'active', pendingCount: 3, oldestPendingSeconds: 12, deadCount: 1, deliveredLastMinute: 40, heldBy: 'replica-a', sampledAt: '2026-12-05T10:00:00.000Z' });
    expect(overviewOf(row({ lag_sample: null, lag_sampled_at: null }))).toMatchObject({ pendingCount: null, sampledAt: null });
  });

  it('sorts most behind first: tenants nobody delivers for, then oldest pending, then pending, then dead; never-sampled tenants last', () => {
    const rows = [
      tenant('a', { pendingCount: 100, oldestPendingSeconds: 5 }),
      tenant('b', { pendingCount: 2, oldestPendingSeconds: 600 }),
      tenant('c', { pendingCount: null, oldestPendingSeconds: null, deadCount: null }),
      tenant('d', { deadCount: 7 }),
      tenant('e', {}),
      tenant('f', { state: 'unhealthy', reason: 'PostgreSQL unreachable', pendingCount: null, oldestPendingSeconds: null, deadCount: null }),
    ];
    expect(sortTenants(rows, 'behind').map((t) => t.id)).toEqual(['f', 'b', 'a', 'd', 'e', 'c']);
    expect(sortTenants(rows, 'pending').map((t) => t.id)).toEqual(['a', 'b', 'd', 'e', 'c', 'f']);
    expect(sortTenants(rows, 'dead').map((t) => t.id)).toEqual(['d', 'a', 'b', 'e', 'c', 'f']);
    expect(sortTenants(rows, 'id').map((t) => t.id)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('a scoped token opens only its tenants; an unscoped one and an anonymous reader every tenant', () => {
    expect(mayAccessTenant({ kind: 'token', actor: 'a', tenants: ['t1'] }, 't1')).toBe(true);
    expect(mayAccessTenant({ kind: 'token', actor: 'a', tenants: ['t1'] }, 't2')).toBe(false);
    expect(mayAccessTenant({ kind: 'token', actor: 'a', tenants: null }, 't2')).toBe(true);
    expect(mayAccessTenant({ kind: 'anonymous' }, 't2')).toBe(true);
  });
});
