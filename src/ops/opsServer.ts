/**
 * The ops endpoint over node:http: /metrics, /healthz, /readyz, and — when
 * the relay passes its control deps — the operator API under /api and the
 * web console at /. Loopback by default: the endpoint reveals queue depth and
 * can pause the fleet, so exposing it is an explicit choice
 * (OUTBOX_RELAY_OPS_HOST).
 *
 * - Authentication: when any token is configured, every route but /healthz
 *   and the console's static page needs `Authorization: Bearer <token>`.
 *   /healthz stays open so a liveness probe needs no secret (it says nothing
 *   beyond "the process runs"); the page holds no data, only the script that
 *   asks /api for it with the token the operator types in.
 * - Rate limiting: every route, per token for a request with a valid token
 *   (one operator's script cannot starve another's, and a token is limited
 *   wherever it comes from), per client address otherwise
 *   (rate-limiter-flexible's in-memory limiter; the fixed 60 s window it
 *   counts in is its own).
 * - Plain node:http, no framework: six routes do not need one, and a router
 *   would be one more dependency in a process with a memory budget.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { ApiError, errorBody } from '../control/apiError.ts';
import { createAuthenticator, type NamedToken } from '../control/authenticate.ts';
import { loadConsolePage, type ConsolePage } from '../control/consolePage.ts';
import { handleApiRequest, type ControlDeps } from '../control/controlApi.ts';
import { handleFleetRequest, type FleetControlDeps } from '../control/fleetApi.ts';
import type { PauseState } from '../control/pauseScope.ts';
import type { Logger } from '../logger.ts';

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
  /** Present when an operator paused this relay's work (a paused relay is still ready). */
  paused?: Pick<PauseState, 'all' | 'types'>;
}

export interface OpsServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** A single token; its holder is `ops` in the audit log. */
  token?: string;
  /** Named tokens; the name is the audit log's actor. */
  tokens?: readonly NamedToken[];
  /** Requests per minute per token (per client address without one), every route; default 600. */
  rateLimitPerMinute?: number;
  registry: Registry;
  readiness: () => Promise<Readiness>;
  logger: Logger;
  /** A readiness callback that hangs must not hang the probe; default 5 s. */
  readinessTimeoutMs?: number;
  /** The operator API and console; without it /api and / answer 404. */
  control?: ControlDeps;
  /** Multi-tenant mode: the same API per tenant (?tenant=ID) and /api/tenants. Excludes `control`. */
  fleet?: FleetControlDeps;
}

export interface OpsServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const SINGLE_TOKEN_NAME = 'ops';

function send(res: ServerResponse, status: number, body: string, contentType = 'application/json', headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(body);
}

function sendError(res: ServerResponse, error: ApiError): void {
  send(res, error.status, errorBody(error), 'application/json', { ...error.headers });
}

async function readinessWithin(readiness: () => Promise<Readiness>, timeoutMs: number): Promise<Readiness & { error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Readiness & { error: string }>((resolve) => {
    timer = setTimeout(() => resolve({ ready: false, checks: {}, error: `readiness checks did not finish within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    return await Promise.race([readiness(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const OPS_ROUTES = new Set(['/healthz', '/metrics', '/readyz']);

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { registry, logger, token, control, fleet } = options;
  if (token !== undefined && token.length === 0) throw new Error('ops token must not be empty: omit it to disable authentication');
  if (control && fleet) throw new Error('give the ops server control (one database) or fleet (multi-tenant), not both');
  if (!fleet && options.tokens?.some((t) => t.tenants !== undefined)) throw new Error('tokens scoped to tenants (name=token@t1+t2) need run --multi-tenant');
  const host = options.host ?? '127.0.0.1';
  const readinessTimeoutMs = options.readinessTimeoutMs ?? 5000;
  const tokens: NamedToken[] = [...(token !== undefined ? [{ name: SINGLE_TOKEN_NAME, token }] : []), ...(options.tokens ?? [])];
  const authenticate = createAuthenticator(tokens);
  const limiter = new RateLimiterMemory({ points: options.rateLimitPerMinute ?? 600, duration: 60 });
  const page: ConsolePage | undefined = control || fleet ? loadConsolePage() : undefined;

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://ops.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    // Authenticated first (digests of a few tokens: cheap), so a valid token is limited as itself.
    const caller = authenticate(req.headers.authorization);
    try {
      await limiter.consume(caller.kind === 'token' ? `token:${caller.actor}` : `address:${req.socket.remoteAddress ?? 'unknown'}`);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const seconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
      const who = caller.kind === 'token' ? 'this token' : 'this address';
      throw new ApiError(429, 'RATE_LIMITED', `too many requests from ${who}; try again in ${seconds} s`, { headers: { 'retry-after': String(seconds) } });
    }
    const isApi = (control !== undefined || fleet !== undefined) && (path === '/api' || path.startsWith('/api/'));
    if (!isApi) {
      const known = OPS_ROUTES.has(path) || (page !== undefined && path === '/');
      if (!known) throw new ApiError(404, 'NOT_FOUND', 'not found');
      if (method !== 'GET' && method !== 'HEAD') throw new ApiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here`, { headers: { allow: 'GET, HEAD' } });
      if (path === '/healthz') return send(res, 200, JSON.stringify({ status: 'ok' }));
      if (path === '/' && page) return send(res, 200, page.html, 'text/html; charset=utf-8', page.headers);
    }
    if (isApi && path === '/api/session' && (method === 'GET' || method === 'HEAD')) {
      // Open, so the console can ask "is my token good?" without a 401 in the browser's console.
      const actor = caller.kind === 'token' ? caller.actor : null;
      const tenants = caller.kind === 'token' ? caller.tenants : null;
      return send(res, 200, JSON.stringify({ authRequired: tokens.length > 0, authenticated: caller.kind === 'token', actor, canMutate: actor !== null, multiTenant: fleet !== undefined, tenants }));
    }
    if (caller.kind === 'rejected') throw new ApiError(401, 'UNAUTHORIZED', 'send a valid ops token as Authorization: Bearer …', { headers: { 'www-authenticate': 'Bearer' } });
    if (isApi) {
      const request = { method, path, query: url.searchParams, req, caller };
      const answer = fleet ? await handleFleetRequest(fleet, request) : await handleApiRequest(control as ControlDeps, request);
      return send(res, answer.status, JSON.stringify(answer.body));
    }
    if (path === '/metrics') return send(res, 200, await registry.metrics(), registry.contentType);
    const r = await readinessWithin(options.readiness, readinessTimeoutMs).catch(
      // A readiness check that throws means "not ready", not "ops endpoint broken".
      (error: unknown) => ({ ready: false, checks: {}, error: error instanceof Error ? error.message : String(error) }),
    );
    send(res, r.ready ? 200 : 503, JSON.stringify(r));
  };

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (res.headersSent) return res.destroy();
      if (error instanceof ApiError) return sendError(res, error);
      logger.warn({ err: error, path: (req.url ?? '').split('?')[0] }, 'ops endpoint failed');
      sendError(res, new ApiError(500, 'INTERNAL', 'internal error (see the relay log)'));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => logger.warn({ err: error }, 'ops server error'));

  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets (a Prometheus scraper holds one) would keep close() waiting.
        server.closeAllConnections();
      })),
  };
}
