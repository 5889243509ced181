/**
 * The operator API of `run --multi-tenant`: the single-database routes
 * (controlApi.ts) per tenant, chosen by `?tenant=ID`, and GET /api/tenants,
 * the fleet overview. Checks run in an order that never leaks and never
 * writes on a refusal: the route exists, a tenant is named (400), the token
 * may see it (403, before anything is read about the tenant, so a scoped
 * token cannot probe which tenants exist), the tenant is registered (404),
 * and only then the single-database handler reads a body or acts.
 */
import { z } from 'zod';
import { ApiError } from './apiError.ts';
import { mayAccessTenant } from './authenticate.ts';
import { handleApiRequest, isApiRoute, type ApiAnswer, type ApiRequest, type ControlDeps } from './controlApi.ts';
import { validate } from './readJsonBody.ts';

export type TenantStateName = 'active' | 'paused' | 'unhealthy' | 'unassigned';

/** One row of GET /api/tenants: the registry plus the holder's last lag sample. */
export interface TenantOverview {
  id: string;
  state: TenantStateName;
  /** Why it is paused, unhealthy or unassigned; null while active. */
  reason: string | null;
  /** Aggregate types paused within the tenant (its relay_pause), as last sampled. */
  pausedTypes: string[];
  pendingCount: number | null;
  oldestPendingSeconds: number | null;
  deadCount: number | null;
  deliveredLastMinute: number | null;
  /** The replica holding the tenant's lease now; null when none does. */
  heldBy: string | null;
  /** When the holder last sampled the figures above (null: never sampled). */
  sampledAt: string | null;
  sampledBy: string | null;
}

export interface TenantControl {
  deps: ControlDeps;
  heldBy: string | null;
}

export interface FleetControlDeps {
  relayId: string;
  /** Every registered tenant, from the control database in one read (no per-tenant count). */
  overview(): Promise<TenantOverview[]>;
  /** The single-database operator deps of one registered tenant; undefined when none has this id. */
  forTenant(id: string): Promise<TenantControl | undefined>;
}

export const TENANT_SORTS = ['behind', 'pending', 'dead', 'id'] as const;
const tenantsQuery = z.strictObject({ sort: z.enum(TENANT_SORTS).default('behind') });

const desc = (a: number | null, b: number | null) => (b ?? -1) - (a ?? -1);
const RANK: Record<TenantStateName, number> = { unhealthy: 0, unassigned: 1, paused: 2, active: 3 };

const stuck = (t: TenantOverview) => (t.state === 'unhealthy' || t.state === 'unassigned' ? 0 : 1);

/** Most behind first: tenants nobody delivers for, then the oldest pending event, the most pending, dead; ties by id. */
export function sortTenants(rows: TenantOverview[], sort: (typeof TENANT_SORTS)[number]): TenantOverview[] {
  const byId = (a: TenantOverview, b: TenantOverview) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const order: Record<typeof sort, (a: TenantOverview, b: TenantOverview) => number> = {
    // A tenant nobody can deliver for (unhealthy, unassigned) is the most behind whatever its last figures say.
    behind: (a, b) => stuck(a) - stuck(b) || desc(a.oldestPendingSeconds, b.oldestPendingSeconds) || desc(a.pendingCount, b.pendingCount) || desc(a.deadCount, b.deadCount) || RANK[a.state] - RANK[b.state] || byId(a, b),
    pending: (a, b) => desc(a.pendingCount, b.pendingCount) || byId(a, b),
    dead: (a, b) => desc(a.deadCount, b.deadCount) || byId(a, b),
    id: byId,
  };
  return [...rows].sort(order[sort]);
}

function withTenant(answer: ApiAnswer, tenant: string, heldBy: string | null): ApiAnswer {
  const body = answer.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return answer;
  return { status: answer.status, body: { tenant, heldBy, ...body } };
}

/** Route one /api request of a multi-tenant relay; throws ApiError for every answer other than success. */
export async function handleFleetRequest(deps: FleetControlDeps, request: ApiRequest): Promise<ApiAnswer> {
  const { method, path, caller, query } = request;
  if (path === '/api/tenants') {
    if (method !== 'GET' && method !== 'HEAD') throw new ApiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here (allowed: GET, HEAD)`, { headers: { allow: 'GET, HEAD' } });
    const { sort } = validate(tenantsQuery, Object.fromEntries(query.entries()));
    const visible = (await deps.overview()).filter((t) => mayAccessTenant(caller, t.id));
    return { status: 200, body: { relayId: deps.relayId, sort, tenants: sortTenants(visible, sort) } };
  }
  if (!isApiRoute(path)) throw new ApiError(404, 'NOT_FOUND', `no such route: ${path.slice(0, 100)}`);
  const tenant = query.get('tenant');
  if (tenant === null || tenant === '') {
    throw new ApiError(400, 'TENANT_REQUIRED', 'this relay serves many tenants: name one with ?tenant=ID (GET /api/tenants lists them)');
  }
  // Quoted and cut: the id comes from the caller and is echoed in a message the console shows.
  const shown = JSON.stringify(tenant.slice(0, 80));
  if (!mayAccessTenant(caller, tenant)) throw new ApiError(403, 'TENANT_FORBIDDEN', `this token does not open tenant ${shown}`);
  const control = await deps.forTenant(tenant);
  if (!control) throw new ApiError(404, 'UNKNOWN_TENANT', `no tenant ${shown} is registered`);
  const rest = new URLSearchParams(query);
  rest.delete('tenant');
  return withTenant(await handleApiRequest(control.deps, { ...request, query: rest }), tenant, control.heldBy);
}
