/**
 * The chaos run's dedicated FerretDB (bench/chaos/mongoServer.ts), the
 * server its `mongo-restart` fault stops and starts: a FerretDB of its own
 * on a free port, never the shared one other test files use.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { startDedicatedMongoServer } from '../../bench/chaos/mongoServer.ts';
import { processRunning } from '../../scripts/ownedProcess.ts';
import { mongoReachable, ourFerretDbPid } from '../../scripts/services.ts';

// Only where MONGO_URL is the local FerretDB scripts/services.ts started (as in CI): elsewhere there is no dedicated server to test.
const sharedFerretDb = (() => {
  const url = new URL(inject('services').mongoUrl);
  return ['127.0.0.1', 'localhost'].includes(url.hostname) && ourFerretDbPid(Number(url.port || 27017)) !== undefined;
})();

describe('the chaos run’s dedicated FerretDB', () => {
  it.runIf(sharedFerretDb)('answers once started, is gone after stop(), answers again on the same port after start(), and logs each exit (a clean one on SIGTERM)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outbox-relay-chaos-mongo-test-'));
    const logFile = join(dir, 'ferretdb.log');
    const server = await startDedicatedMongoServer(inject('services').mongoUrl, logFile);
    try {
      expect(server).toBeDefined();
      const first = server!.pid as number;
      expect(processRunning(first)).toBe(true);
      expect(await mongoReachable(server!.url)).toBeUndefined();

      await server!.stop();
      expect(server!.pid).toBeUndefined();
      expect(processRunning(first)).toBe(false);
      expect(await mongoReachable(server!.url, 1000)).toBeDefined();

      await server!.start();
      const second = server!.pid as number;
      expect(second).not.toBe(first);
      expect(await mongoReachable(server!.url)).toBeUndefined();
      expect(readFileSync(logFile, 'utf8')).toContain(`--- chaos: FerretDB pid ${first} exited (code 0)`);
    } finally {
      await server?.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(server!.pid).toBeUndefined();
    await expect(server!.start()).rejects.toThrow('the dedicated FerretDB was closed');
  });
});
