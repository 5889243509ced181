/**
 * scripts/ownedProcess.ts on real child processes: small Node servers that
 * listen late, die early, never answer or ignore SIGTERM, so each branch of
 * the lifecycle (PgBouncer, our PostgreSQL and FerretDB all go through it)
 * is proven without those servers.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, OwnedProcessStartError, portAccepts, processRunning, startOwnedProcess, stopOwnedPid, type OwnedProcessOptions } from '../../scripts/ownedProcess.ts';
import { waitFor } from '../helpers/waitFor.ts';

const HELPER = fileURLToPath(new URL('../../scripts/ownedProcess.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'outbox-relay-owned-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A Node child running `script` (CommonJS), output to its own log file. */
function nodeServer(script: string, extra: Partial<OwnedProcessOptions> = {}): OwnedProcessOptions {
  return { name: 'test server', command: process.execPath, args: ['-e', script], logFile: join(dir, `server-${n++}.log`), ...extra };
}
const listensAfter = (port: number, delayMs: number) =>
  `console.log('starting'); setTimeout(() => require('node:net').createServer((s) => s.end()).listen(${port}, '127.0.0.1', () => console.log('listening on ${port}')), ${delayMs});`;
const accepting = (port: number) => ({ timeoutMs: 10_000, check: async () => ((await portAccepts('127.0.0.1', port, 200)) ? undefined : `nothing on ${port} yet`) });

const alive = processRunning;

describe('startOwnedProcess', () => {
  it('resolves once the readiness check passes, and stop() ends the process with SIGTERM', async () => {
    const port = await freePort();
    const server = await startOwnedProcess(nodeServer(listensAfter(port, 300)), accepting(port));
    expect(await portAccepts('127.0.0.1', port)).toBe(true);
    expect(server.running()).toBe(true);
    await server.stop();
    expect(await server.exited).toBe('signal SIGTERM');
    expect(server.running()).toBe(false);
    expect(alive(server.pid)).toBe(false);
    expect(await portAccepts('127.0.0.1', port, 200)).toBe(false);
  });

  it('a process that exits before answering: the error gives its exit, the last check and its last output lines', async () => {
    const port = await freePort();
    const options = nodeServer(`console.error('bind: Address already in use'); process.exit(3);`);
    const error = await startOwnedProcess(options, accepting(port)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OwnedProcessStartError);
    const started = error as OwnedProcessStartError;
    expect(started.exit).toBe('code 3');
    expect(started.output).toContain('Address already in use');
    expect(started.message).toMatch(/^test server did not answer \(exited: code 3; .*\); last output: .*Address already in use/);
  });

  it('a process that never answers is killed when the time runs out; the error says it timed out and what the check last saw', async () => {
    const port = await freePort();
    let pid = 0;
    const started = Date.now();
    const error = await startOwnedProcess(nodeServer(`console.log('up but deaf'); setInterval(() => {}, 1000);`, { onSpawned: (p) => (pid = p) }), { ...accepting(port), timeoutMs: 600 }).then(
      () => undefined,
      (e: unknown) => e as OwnedProcessStartError,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(error?.exit).toBeUndefined();
    expect(error?.lastCheck).toBe(`nothing on ${port} yet`);
    expect(error?.message).toMatch(/timed out after 0.6 s; nothing on \d+ yet\); last output: up but deaf/);
    expect(pid).toBeGreaterThan(0);
    expect(alive(pid), 'the process that never answered was left running').toBe(false);
  });

  it('stop() sends SIGKILL after the grace when the first signal is ignored', async () => {
    const port = await freePort();
    const script = `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); ${listensAfter(port, 0)}`;
    const server = await startOwnedProcess(nodeServer(script, { stopGraceMs: 400 }), accepting(port));
    const started = Date.now();
    await server.stop();
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(await server.exited).toBe('signal SIGKILL');
  });

  it('uses the stop signal it is given (PostgreSQL: SIGINT) and tells onExit how the process ended', async () => {
    const port = await freePort();
    const exits: string[] = [];
    const script = `process.on('SIGINT', () => { console.log('fast shutdown'); process.exit(0); }); ${listensAfter(port, 0)}`;
    const options = nodeServer(script, { stopSignal: 'SIGINT', onExit: (how) => exits.push(how) });
    const server = await startOwnedProcess(options, accepting(port));
    await server.stop();
    expect(await server.exited).toBe('code 0');
    await waitFor(() => exits.length === 1);
    expect(exits).toEqual(['code 0']);
    expect(readFileSync(options.logFile, 'utf8')).toContain('fast shutdown');
  });
});

/** A Node process that starts a server through the helper, prints its PID and exits without stopping it. */
function ownerThatExits(port: number, detached: boolean): Promise<number> {
  const script = `
    import { startOwnedProcess, portAccepts } from ${JSON.stringify(HELPER)};
    const server = await startOwnedProcess(
      { name: 'child', command: process.execPath, args: ['-e', ${JSON.stringify(listensAfter(port, 0))}], logFile: ${JSON.stringify(join(dir, `owner-${port}.log`))}, detached: ${detached} },
      { timeoutMs: 10000, check: async () => ((await portAccepts('127.0.0.1', ${port}, 200)) ? undefined : 'not yet') },
    );
    console.log(server.pid);
    process.exit(0);`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], (error, stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`));
      resolve(Number(stdout.trim()));
    });
  });
}

describe('an owner that exits without stop()', () => {
  it('takes its server with it, unless the server was started detached (npm run services), which stopOwnedPid stops later', async () => {
    const port = await freePort();
    const pid = await ownerThatExits(port, false);
    await waitFor(() => !alive(pid), { message: 'the owned server outlived its owner' });

    const detachedPort = await freePort();
    const detachedPid = await ownerThatExits(detachedPort, true);
    try {
      expect(alive(detachedPid)).toBe(true);
      expect(await portAccepts('127.0.0.1', detachedPort)).toBe(true);
    } finally {
      await stopOwnedPid(detachedPid, { graceMs: 2000 });
    }
    expect(alive(detachedPid)).toBe(false);
  });
});
