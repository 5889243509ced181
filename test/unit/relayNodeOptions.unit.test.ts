/**
 * The benchmark measures relays with the V8 settings they are deployed with:
 * the Dockerfile's NODE_OPTIONS and the bench's DEPLOYED_NODE_OPTIONS must not drift apart.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEPLOYED_NODE_OPTIONS } from '../../bench/support/relayProcesses.ts';

describe('relay NODE_OPTIONS', () => {
  it("the bench runs relays with the Dockerfile's NODE_OPTIONS", () => {
    const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
    const set = [...dockerfile.matchAll(/^ENV NODE_OPTIONS="([^"]*)"$/gm)].map((m) => m[1]);
    expect(set).toEqual([DEPLOYED_NODE_OPTIONS]);
    expect(DEPLOYED_NODE_OPTIONS).toMatch(/--max-semi-space-size=\d+/);
    // The heap cap is what holds peak RSS under 150 MiB; OUTBOX_RELAY_BATCH_MAX_BYTES is what makes it safe.
    expect(DEPLOYED_NODE_OPTIONS).toMatch(/--max-old-space-size=\d+/);
  });
});
