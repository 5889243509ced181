/**
 * `npm run compose:check` (scripts/composeCheck.sh → tools/composecheck) loads
 * Compose files with compose-go, the loader Docker Compose uses, strictly:
 * the repository's docker-compose.yml passes, and a copy with one unknown key,
 * one wrong type or a dangling depends_on fails naming what is wrong.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const OURS = join(REPO, 'docker-compose.yml');
const dir = mkdtempSync(join(tmpdir(), 'compose-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function check(file: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)('bash', [join(REPO, 'scripts/composeCheck.sh'), file], { timeout: 600_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Our compose file with one edit, written next to a Dockerfile so `build: .` still resolves. */
function variant(name: string, from: string, to: string): string {
  const text = readFileSync(OURS, 'utf8');
  expect(text).toContain(from);
  const folder = join(dir, name);
  mkdirSync(folder);
  writeFileSync(join(folder, 'Dockerfile'), 'FROM scratch\n');
  const file = join(folder, 'docker-compose.yml');
  writeFileSync(file, text.replace(from, to));
  return file;
}

describe('the compose check', () => {
  it('passes the repository docker-compose.yml', { timeout: 600_000 }, async () => {
    const result = await check(OURS);
    expect(result.output).toMatch(/ok \(project outbox-relay; services mongo, postgres, relay\)/);
    expect(result.code).toBe(0);
  });

  it('fails a service with an unknown key, naming it', async () => {
    const file = variant('unknown-key', '    stop_grace_period: 20s\n', '    stop_grace_period: 20s\n    restart_policy: always\n');
    const result = await check(file);
    expect(result.code).toBe(1);
    expect(result.output).toContain('services.relay.restart_policy');
  });

  it('fails an unknown top-level key', async () => {
    const file = variant('unknown-top', 'volumes:\n  postgres-data:', 'volumez:\n  x: 1\nvolumes:\n  postgres-data:');
    const result = await check(file);
    expect(result.code).toBe(1);
    expect(result.output).toContain('volumez');
  });

  it('fails a value of the wrong type', async () => {
    const file = variant('wrong-type', '      retries: 30\n      start_period: 10s', '      retries: thirty\n      start_period: 10s');
    const result = await check(file);
    expect(result.code).toBe(1);
    expect(result.output).toContain('retries');
  });

  it('fails a depends_on naming a service that does not exist', async () => {
    const file = variant('dangling', '      mongo:\n        condition: service_healthy', '      mango:\n        condition: service_healthy');
    const result = await check(file);
    expect(result.code).toBe(1);
    expect(result.output).toContain('mango');
  });
});
