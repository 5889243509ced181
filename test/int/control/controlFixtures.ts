/** Relays with the ops endpoint and the operator API on loopback, for the control-plane tests. */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import type { ConfigOverrides } from '../../../src/config.ts';
import { createRelay, type CreateRelayOptions, type Relay } from '../../../src/relay/relay.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import type { TestDatabases } from '../../helpers/testDatabases.ts';

export const ALICE = 'alice-token-0123456789abcdef';
export const BOB = 'bob-token-0123456789abcdef00';

export async function startControlRelay(t: TestDatabases, overrides: ConfigOverrides = {}, options: CreateRelayOptions = {}): Promise<ControlRelay> {
  // A limit the tests' own polling never reaches; the rate-limit test sets its own.
  const relay = createRelay(testRelayConfig(t, { opsPort: 0, opsTokens: `alice=${ALICE},bob=${BOB}`, opsRateLimit: 100_000, ...overrides }), options);
  await relay.start();
  if (!relay.opsUrl) throw new Error('ops endpoint did not start');
  return relay as ControlRelay;
}

export type ControlRelay = Relay & { opsUrl: string };

/**
 * Two control relays on this file's database, started before its tests and
 * stopped after them: what a pause or a reconcile run does across a fleet.
 * Call at the top level of the file; `const { a, b } = relays();` in a test.
 */
export function useControlRelayPair(t: () => TestDatabases): () => { a: ControlRelay; b: ControlRelay } {
  let pair: { a: ControlRelay; b: ControlRelay } | undefined;
  let started: ControlRelay[] = [];
  beforeAll(async () => {
    // Started together; one that starts is stopped after the file even if the other fails.
    const outcomes = await Promise.allSettled([startControlRelay(t()), startControlRelay(t())]);
    started = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const failed = outcomes.find((o) => o.status === 'rejected');
    if (failed) throw failed.reason;
    pair = { a: started[0] as ControlRelay, b: started[1] as ControlRelay };
  });
  afterAll(async () => {
    await Promise.all(started.map((relay) => relay.stop()));
  });
  return () => {
    if (!pair) throw new Error('the relay pair is not started: call useControlRelayPair() at the top level of the file');
    return pair;
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

/** One API call; `body` is sent as JSON unless `raw` is given. */
export async function call(
  base: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string; contentType?: string; method?: string; authorization?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.authorization) headers.authorization = options.authorization;
  const hasBody = options.body !== undefined || options.raw !== undefined;
  if (hasBody) headers['content-type'] = options.contentType ?? 'application/json';
  const res = await fetch(`${base}${path}`, {
    method: options.method ?? (hasBody ? 'POST' : 'GET'),
    headers,
    ...(hasBody ? { body: options.raw ?? JSON.stringify(options.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (metrics, the console page)
  }
  return { status: res.status, headers: res.headers, body };
}

/** A dead event, as markFailed leaves one after its last attempt. */
export async function insertDead(pool: pg.Pool, options: { lastError?: string; aggregateType?: string; aggregateId?: string } = {}): Promise<string> {
  const eventId = randomUUID();
  await pool.query(
    `INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload, status, attempts, last_error, dead_at)
     VALUES ($1, $2, $3, 1, 'metadata.upserted', $4, 'dead', 10, $5, now())`,
    [eventId, options.aggregateType ?? 'transaction', options.aggregateId ?? `dead-${eventId.slice(0, 8)}`, JSON.stringify({ metadata: { n: 1 } }), options.lastError ?? 'document too large'],
  );
  return eventId;
}

export async function auditRows(pool: pg.Pool): Promise<{ actor: string; action: string; target: string; reason: string | null; details: any }[]> {
  const { rows } = await pool.query('SELECT actor, action, target, reason, details FROM audit_log ORDER BY id');
  return rows;
}
