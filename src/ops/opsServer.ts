/**
 * /metrics, /healthz, /readyz over node:http. Loopback by default: the
 * endpoint reveals queue depth and health, so exposing it is an explicit
 * choice (OUTBOX_RELAY_OPS_HOST). An optional bearer token guards /metrics and
 * /readyz; /healthz stays open so a container runtime's liveness probe needs
 * no secret, and it says nothing beyond "the process runs".
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.ts';

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
}

export interface OpsServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** When set, /metrics and /readyz require `Authorization: Bearer <token>`. */
  token?: string;
  registry: Registry;
  readiness: () => Promise<Readiness>;
  logger: Logger;
  /** A readiness callback that hangs must not hang the probe; default 5 s. */
  readinessTimeoutMs?: number;
}

export interface OpsServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function authorized(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  // The scheme is case-insensitive (RFC 7235); the token is not.
  const match = /^bearer +(\S+) *$/i.exec(header ?? '');
  // Compare digests: constant time, and the token's length does not leak.
  return timingSafeEqual(digest(match?.[1] ?? ''), digest(token));
}

function send(res: ServerResponse, status: number, body: string, contentType = 'application/json'): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(body);
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

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const { registry, logger, token } = options;
  if (token !== undefined && token.length === 0) throw new Error('ops token must not be empty: omit it to disable authentication');
  const host = options.host ?? '127.0.0.1';
  const readinessTimeoutMs = options.readinessTimeoutMs ?? 5000;

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(res, 405, JSON.stringify({ error: 'method not allowed' }));
    }
    if (path === '/healthz') return send(res, 200, JSON.stringify({ status: 'ok' }));
    if (path !== '/metrics' && path !== '/readyz') return send(res, 404, JSON.stringify({ error: 'not found' }));
    if (!authorized(req.headers.authorization, token)) {
      res.setHeader('www-authenticate', 'Bearer');
      return send(res, 401, JSON.stringify({ error: 'unauthorized' }));
    }
    const work =
      path === '/metrics'
        ? registry.metrics().then((text) => send(res, 200, text, registry.contentType))
        : readinessWithin(options.readiness, readinessTimeoutMs).then(
            (r) => send(res, r.ready ? 200 : 503, JSON.stringify(r)),
            // A readiness check that throws means "not ready", not "ops endpoint broken".
            (error: unknown) => send(res, 503, JSON.stringify({ ready: false, checks: {}, error: error instanceof Error ? error.message : String(error) })),
          );
    work.catch((error: unknown) => {
      logger.warn({ err: error, path }, 'ops endpoint failed');
      if (!res.headersSent) send(res, 500, JSON.stringify({ error: 'internal error' }));
      else res.destroy();
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
