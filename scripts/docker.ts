/**
 * Answers "does a Docker engine answer?" in well under a second, so test and
 * service set-up on a machine without one falls through quickly instead of
 * waiting on testcontainers' own, slower discovery.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';

type Endpoint = { socketPath: string } | { host: string; port: number } | 'ask-the-client' | undefined;

/** The usual engine sockets: system, rootless, Docker Desktop, Colima. */
function defaultSockets(): string[] {
  const runtime = process.env.XDG_RUNTIME_DIR;
  return [
    '/var/run/docker.sock',
    ...(runtime ? [join(runtime, 'docker.sock')] : []),
    join(homedir(), '.docker', 'run', 'docker.sock'),
    join(homedir(), '.colima', 'default', 'docker.sock'),
  ];
}

function endpoint(): Endpoint {
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  // TLS (DOCKER_TLS_VERIFY) and ssh:// need the client's own transport.
  if (host?.startsWith('tcp://') && !process.env.DOCKER_TLS_VERIFY) {
    const url = new URL(host.replace('tcp://', 'http://'));
    return { host: url.hostname, port: Number(url.port || 2375) };
  }
  if (host || process.env.DOCKER_CONTEXT) return 'ask-the-client';
  const socket = defaultSockets().find((path) => existsSync(path));
  return socket ? { socketPath: socket } : undefined;
}

function ping(options: { socketPath: string } | { host: string; port: number }, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ ...options, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Exit code 0 of a `docker …` command within the timeout; false when the client is missing. */
function dockerSucceeds(args: string[], timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('docker', args, { timeout: timeoutMs }, (error) => resolve(!error));
  });
}

export async function dockerEngineAvailable(timeoutMs = 1500): Promise<boolean> {
  const target = endpoint();
  if (target === undefined) return false; // no socket at all: the common "no Docker" case, answered at once
  if (target === 'ask-the-client') return dockerSucceeds(['version', '--format', '{{.Server.Version}}'], Math.max(timeoutMs, 5000));
  return ping(target, timeoutMs);
}

/** The compose v2 plugin (`docker compose`), which the engine alone does not bring. */
export async function dockerComposeAvailable(timeoutMs = 5000): Promise<boolean> {
  return dockerSucceeds(['compose', 'version'], timeoutMs);
}
