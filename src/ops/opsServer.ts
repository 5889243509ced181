/**
 * /metrics, /healthz, /readyz over node:http. Loopback by default; an
 * optional bearer token guards /metrics and /readyz (/healthz stays open so a
 * container runtime's liveness probe needs no secret, and says nothing).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.ts';

export interface OpsServerOptions {
  host: string;
  port: number;
  token?: string;
  registry: Registry;
  readiness: () => Promise<{ ready: boolean; checks: Record<string, boolean> }>;
  logger: Logger;
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
  if (!token) return true;
  const presented = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
  // Compare digests: constant time, and no length leak.
  return timingSafeEqual(digest(presented), digest(token));
}

function send(res: ServerResponse, status: number, body: string, contentType = 'application/json'): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, JSON.stringify({ error: 'method not allowed' }));
    if (path === '/healthz') return send(res, 200, JSON.stringify({ status: 'ok' }));
    if (path !== '/metrics' && path !== '/readyz') return send(res, 404, JSON.stringify({ error: 'not found' }));
    if (!authorized(req.headers.authorization, options.token)) {
      res.setHeader('www-authenticate', 'Bearer');
      return send(res, 401, JSON.stringify({ error: 'unauthorized' }));
    }
    const work =
      path === '/metrics'
        ? options.registry.metrics().then((text) => send(res, 200, text, options.registry.contentType))
        : options.readiness().then((r) => send(res, r.ready ? 200 : 503, JSON.stringify(r)));
    work.catch((error: unknown) => {
      options.logger.warn({ err: error, path }, 'ops endpoint failed');
      if (!res.headersSent) send(res, 500, JSON.stringify({ error: 'internal error' }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
