import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.ts';
import { createRelayMetrics } from '../../../src/ops/metrics.ts';
import { startOpsServer, type OpsServer, type OpsServerOptions, type Readiness } from '../../../src/ops/opsServer.ts';

const servers: OpsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(overrides: Partial<OpsServerOptions> = {}): Promise<OpsServer> {
  const server = await startOpsServer({
    port: 0,
    registry: createRelayMetrics().registry,
    readiness: async () => ({ ready: true, checks: { postgres: true } }),
    logger: silentLogger,
    ...overrides,
  });
  servers.push(server);
  return server;
}

describe('ops server', () => {
  it('binds to 127.0.0.1 by default, on an ephemeral port when asked for port 0', async () => {
    const server = await start();
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('serves Prometheus text with the relay metrics and the process metrics', async () => {
    const metrics = createRelayMetrics();
    metrics.delivered.inc(7);
    const server = await start({ registry: metrics.registry });
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toContain('outbox_relay_events_delivered_total 7');
    expect(text).toContain('# TYPE outbox_relay_oldest_pending_seconds gauge');
    expect(text).toContain('# TYPE outbox_relay_commit_to_applied_seconds histogram');
    expect(text).toContain('process_resident_memory_bytes');
  });

  it('answers /healthz with {"status":"ok"}', async () => {
    const server = await start();
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('follows the readiness callback: 200 when ready, 503 with the failing check when not', async () => {
    let state: Readiness = { ready: true, checks: { postgres: true, mongodb: true } };
    const server = await start({ readiness: async () => state });
    let res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(state);
    state = { ready: false, checks: { postgres: true, mongodb: false } };
    res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ready: false, checks: { postgres: true, mongodb: false } });
  });

  it('answers 503 (not a hang, not a 500) when the readiness callback throws or hangs', async () => {
    const throwing = await start({ readiness: async () => Promise.reject(new Error('pool closed')) });
    const res = await fetch(`${throwing.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ ready: false, error: 'pool closed' });

    const hanging = await start({ readiness: () => new Promise<Readiness>(() => {}), readinessTimeoutMs: 200 });
    const started = Date.now();
    const slow = await fetch(`${hanging.url}/readyz`);
    expect(slow.status).toBe(503);
    expect(await slow.json()).toMatchObject({ ready: false, error: 'readiness checks did not finish within 200 ms' });
    // A hang would last until Node's 300 s request timeout; this bound only rules that out.
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('requires the bearer token on /metrics and /readyz when one is set; /healthz stays open', async () => {
    const token = 'a-long-enough-secret-token';
    const server = await start({ token });
    for (const path of ['/metrics', '/readyz']) {
      const none = await fetch(`${server.url}${path}`);
      expect(none.status, `${path} without token`).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      const wrong = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}x` } });
      expect(wrong.status, `${path} with a wrong token`).toBe(401);
      const basic = await fetch(`${server.url}${path}`, { headers: { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` } });
      expect(basic.status, `${path} with another scheme`).toBe(401);
      const right = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      expect(right.status, `${path} with the token`).toBe(200);
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('answers 404 for unknown paths and 405 (with Allow) for methods other than GET/HEAD', async () => {
    const server = await start();
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics/`)).status).toBe(404);
    const post = await fetch(`${server.url}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${server.url}/healthz`, { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(`${server.url}/readyz?verbose=1`)).status).toBe(200);
  });

  it('close() returns promptly even while a client holds a keep-alive connection, and frees the port', async () => {
    const server = await start();
    // A scraper-like client that keeps its socket open between requests.
    // Wrapped in an object: resolving with a bare promise would wait for it.
    const { socketClosed } = await new Promise<{ socketClosed: Promise<void> }>((resolve, reject) => {
      const req = httpRequest(`${server.url}/healthz`, { headers: { connection: 'keep-alive' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ socketClosed: new Promise<void>((done) => req.socket?.once('close', () => done())) }));
      });
      req.on('error', reject);
      req.end();
    });
    const started = Date.now();
    await server.close();
    // Without closing it, the idle keep-alive socket holds close() for Node's 5 s keepAliveTimeout.
    expect(Date.now() - started).toBeLessThan(4000);
    await socketClosed;
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    await server.close(); // idempotent
  });
});
