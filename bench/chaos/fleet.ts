/**
 * The relays under test: separate `node src/cli.ts run` processes we can
 * kill -9, SIGSTOP/SIGCONT and restart. Each (re)start gets a new relay id
 * (`chaos-<slot>-g<generation>`), as a restarted pod would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));

interface Slot {
  slot: number;
  generation: number;
  child: ChildProcess;
  exited: Promise<void>;
  stopped: boolean;
}

export interface Fleet {
  readonly size: number;
  start(): Promise<void>;
  /** kill -9, then start a fresh process in the same slot. */
  killAndRestart(slot: number): Promise<void>;
  pause(slot: number): void;
  resume(slot: number): void;
  /** SIGCONT everything paused (so a shutdown never leaves a frozen process). */
  resumeAll(): void;
  /** SIGTERM all and wait (SIGKILL after timeoutMs). */
  stop(timeoutMs?: number): Promise<void>;
  /** Exit events other than the ones we caused (a relay crashing by itself is a finding). */
  readonly unexpectedExits: string[];
}

export function createFleet(options: { size: number; env: Record<string, string>; logFile: string }): Fleet {
  const slots: Slot[] = [];
  const log: WriteStream = createWriteStream(options.logFile, { flags: 'a' });
  const unexpectedExits: string[] = [];
  let shuttingDown = false;

  async function launch(slot: number, generation: number): Promise<Slot> {
    const relayId = `chaos-${slot}-g${generation}`;
    const child = spawn(process.execPath, [CLI, 'run'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env, OUTBOX_RELAY_ID: relayId, OUTBOX_RELAY_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let seen = '';
    let resolveStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => (resolveStarted = resolve));
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      if (seen !== 'done') {
        seen += chunk.toString();
        if (seen.includes('"relay started"')) {
          seen = 'done';
          resolveStarted();
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const entry: Slot = { slot, generation, child, stopped: false, exited: Promise.resolve() };
    entry.exited = new Promise<void>((resolve) =>
      child.on('exit', (code, signal) => {
        log.write(`{"chaos":"relay exited","relayId":"${relayId}","code":${code},"signal":"${signal}"}\n`);
        if (!shuttingDown && signal !== 'SIGKILL') unexpectedExits.push(`${relayId}: code ${code} signal ${signal}`);
        resolveStarted();
        resolve();
      }),
    );
    // Start-up may be slow while MongoDB is cut (the relay starts anyway); don't block the fault loop forever.
    await Promise.race([started, new Promise((resolve) => setTimeout(resolve, 15_000))]);
    return entry;
  }

  const at = (slot: number): Slot => {
    const s = slots[slot];
    if (!s) throw new Error(`no relay in slot ${slot}`);
    return s;
  };

  return {
    size: options.size,
    unexpectedExits,
    async start() {
      for (let i = 0; i < options.size; i++) slots[i] = await launch(i, 0);
    },
    async killAndRestart(slot) {
      const s = at(slot);
      s.child.kill('SIGKILL');
      await s.exited;
      slots[slot] = await launch(slot, s.generation + 1);
    },
    pause(slot) {
      const s = at(slot);
      s.stopped = true;
      s.child.kill('SIGSTOP');
    },
    resume(slot) {
      const s = at(slot);
      s.stopped = false;
      s.child.kill('SIGCONT');
    },
    resumeAll() {
      for (const s of slots) if (s.stopped) this.resume(s.slot);
    },
    async stop(timeoutMs = 15_000) {
      shuttingDown = true;
      this.resumeAll();
      for (const s of slots) s.child.kill('SIGTERM');
      const all = Promise.all(slots.map((s) => s.exited));
      const timer = setTimeout(() => {
        for (const s of slots) if (s.child.exitCode === null) s.child.kill('SIGKILL');
      }, timeoutMs);
      await all;
      clearTimeout(timer);
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
}
