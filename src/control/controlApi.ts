/**
 * The operator HTTP API under /api, served by the ops endpoint (ops/opsServer.ts
 * does transport, rate limiting and authentication; this file routes and acts).
 * Reads answer anyone the endpoint lets in; every mutation needs a named token
 * (its name is the audit log's actor) and a reason.
 */
import type { IncomingMessage } from 'node:http';
import type { SqlDb } from '../db/sqlDb.ts';
import { listDead } from '../outbox/listDead.ts';
import { requeueDead } from '../outbox/requeueDead.ts';
import { readLastReconcileRun } from '../reconcile/recordReconcileRun.ts';
import { ApiError } from './apiError.ts';
import { limitQuery, pauseBody, reconcileBody, requeueBody } from './apiSchemas.ts';
import type { Caller } from './authenticate.ts';
import type { LagHistory } from './lagHistory.ts';
import { listAudit } from './listAudit.ts';
import { pauseRelays } from './pauseRelays.ts';
import type { ReconcileRunner } from './reconcileRunner.ts';
import { recordAudit } from './recordAudit.ts';
import { readJsonBody, validate } from './readJsonBody.ts';
import { resumeRelays } from './resumeRelays.ts';

export interface ControlDeps {
  db: SqlDb;
  relayId: string;
  /** Answers GET /api/lag; expired by the changes the lag shows (requeue, pause, resume) so the console sees them at once. */
  history: LagHistory;
  reconcile: ReconcileRunner;
  /** Called after a pause or resume, so the relay serving the request honours it at once. */
  onPauseChange?: () => Promise<void>;
  /** Added to every audit row this API writes (multi-tenant mode: `{ tenant }`, so each row names its tenant). */
  auditDetails?: Record<string, unknown>;
  logger?: { warn(obj: object, msg: string): void };
}

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  req: IncomingMessage;
  caller: Exclude<Caller, { kind: 'rejected' }>;
}

export interface ApiAnswer {
  status: number;
  body: unknown;
}

type Handler = (deps: ControlDeps, request: ApiRequest, actor: string) => Promise<ApiAnswer>;

const ok = (body: unknown, status = 200): ApiAnswer => ({ status, body });

/**
 * The pause is committed by now: a failure to apply it locally must not turn
 * the answer into an error (the next heartbeat applies it anyway).
 */
async function applyPauseLocally(deps: ControlDeps): Promise<void> {
  try {
    await deps.onPauseChange?.();
  } catch (error) {
    deps.logger?.warn({ err: error }, 'pause committed; this relay applies it on its next heartbeat');
  }
}
const queryObject = (query: URLSearchParams) => Object.fromEntries(query.entries());

const READS: Record<string, Handler> = {
  '/api/lag': async (deps) => {
    // The history's newest sample (read fresh only when it has none recent): the view counts the whole backlog.
    const { lag, at } = await deps.history.latest();
    return ok({ relayId: deps.relayId, lag, sampledAt: new Date(at).toISOString(), sampleAgeMs: Math.max(0, Date.now() - at), history: deps.history.points() });
  },
  '/api/dead': async (deps, { query }) => {
    const { limit } = validate(limitQuery(1000, 100), queryObject(query));
    return ok({ events: await listDead(deps.db, { limit }) });
  },
  '/api/audit': async (deps, { query }) => {
    const { limit } = validate(limitQuery(1000, 100), queryObject(query));
    return ok({ entries: await listAudit(deps.db, { limit }) });
  },
  '/api/reconcile': async (deps) => {
    const [running, last] = await Promise.all([deps.reconcile.running(), readLastReconcileRun(deps.db)]);
    return ok({ running, current: deps.reconcile.current() ?? null, last: last ?? null });
  },
};

const MUTATIONS: Record<string, Handler> = {
  '/api/dead/requeue': async (deps, { req }, actor) => {
    const body = await readJsonBody(req, requeueBody);
    const target = 'all' in body ? { all: true as const } : { eventIds: body.ids };
    const result = await requeueDead(deps.db, target, {
      alsoInTransaction: (tx, requeued) =>
        recordAudit(tx, {
          actor,
          action: 'requeue',
          target: 'all' in body ? 'all dead events' : body.ids.join(','),
          reason: body.reason,
          details: { ...deps.auditDetails, requeued: requeued.length, eventIds: requeued.slice(0, 1000) },
        }),
    });
    deps.history.expire();
    return ok(result);
  },
  '/api/pause': async (deps, { req }, actor) => {
    const body = await readJsonBody(req, pauseBody);
    const result = await pauseRelays(deps.db, { ...(body.type ? { type: body.type } : {}), reason: body.reason, actor, ...(deps.auditDetails ? { details: deps.auditDetails } : {}) });
    deps.history.expire();
    await applyPauseLocally(deps);
    return ok({ paused: result.scope, wasPaused: result.wasPaused });
  },
  '/api/resume': async (deps, { req }, actor) => {
    const body = await readJsonBody(req, pauseBody);
    const result = await resumeRelays(deps.db, { ...(body.type ? { type: body.type } : {}), reason: body.reason, actor, ...(deps.auditDetails ? { details: deps.auditDetails } : {}) });
    deps.history.expire();
    await applyPauseLocally(deps);
    return ok({ resumed: result.scope, wasPaused: result.wasPaused });
  },
  '/api/reconcile': async (deps, { req }, actor) => {
    const body = await readJsonBody(req, reconcileBody);
    const outcome = await deps.reconcile.start({ actor, repair: body.repair === true, ...(body.checks ? { checks: body.checks } : {}), reason: body.reason ?? null });
    if (!outcome.started) throw new ApiError(409, 'RECONCILE_RUNNING', 'a reconcile run is in progress (on this or another relay); try again when it has finished');
    return ok({ runId: outcome.runId }, 202);
  },
};

/** Whether a path is one of the single-database routes (multi-tenant mode serves them per tenant). */
export function isApiRoute(path: string): boolean {
  return Object.hasOwn(READS, path) || Object.hasOwn(MUTATIONS, path);
}

/** Route one /api request; throws ApiError for every answer other than success. */
export async function handleApiRequest(deps: ControlDeps, request: ApiRequest): Promise<ApiAnswer> {
  const { method, path, caller } = request;
  const read = Object.hasOwn(READS, path) ? READS[path] : undefined;
  const mutation = Object.hasOwn(MUTATIONS, path) ? MUTATIONS[path] : undefined;
  if (!read && !mutation) throw new ApiError(404, 'NOT_FOUND', `no such route: ${path.slice(0, 100)}`);
  if ((method === 'GET' || method === 'HEAD') && read) return read(deps, request, '');
  if (method === 'POST' && mutation) {
    if (caller.kind !== 'token') {
      throw new ApiError(403, 'MUTATIONS_DISABLED', 'changes need a named ops token: set OUTBOX_RELAY_OPS_TOKENS (or OUTBOX_RELAY_OPS_TOKEN) and send it as Authorization: Bearer …');
    }
    return mutation(deps, request, caller.actor);
  }
  const allow = [...(read ? ['GET', 'HEAD'] : []), ...(mutation ? ['POST'] : [])].join(', ');
  throw new ApiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here (allowed: ${allow})`, { headers: { allow } });
}
