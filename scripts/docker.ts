/**
 * Answers "does a Docker engine answer?" in well under a second, so test and
 * service set-up on a machine without one falls through quickly instead of
 * waiting on testcontainers' own, slower discovery.
 */
import { existsSync } from 'node:fs';
import { request } from 'node:http';

function socketPath(): string | undefined {
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  if (host) return undefined; // tcp:// etc.: handled below
  return existsSync('/var/run/docker.sock') ? '/var/run/docker.sock' : undefined;
}

export async function dockerEngineAvailable(timeoutMs = 1500): Promise<boolean> {
  const host = process.env.DOCKER_HOST;
  const socket = socketPath();
  let options: { socketPath?: string; host?: string; port?: number };
  if (socket) options = { socketPath: socket };
  else if (host?.startsWith('tcp://')) {
    const url = new URL(host.replace('tcp://', 'http://'));
    options = { host: url.hostname, port: Number(url.port || 2375) };
  } else return false;
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
