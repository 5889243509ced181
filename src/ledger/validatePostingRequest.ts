import { ValidationError } from '../errors.ts';
import { canonicalHash } from '../metadata/metadataHash.ts';
import { validateMetadata } from '../metadata/validateMetadata.ts';
import { validateText } from '../metadata/validateText.ts';
import type { Direction, JsonValue, Metadata } from '../types.ts';
import { parseAmount } from './parseAmount.ts';

/** Most entries one posting may carry (every batch statement takes one array per column, so this is not a bind-parameter limit). */
export const MAX_ENTRIES = 10_000;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
export const MAX_DESCRIPTION_LENGTH = 10_000;
export const MAX_ACCOUNT_LENGTH = 512;
export const MAX_ASSET_LENGTH = 32;

export interface NormalisedEntry {
  account: string;
  asset: string;
  direction: Direction;
  amount: bigint;
  metadata: Metadata | null;
}

export interface NormalisedPosting {
  idempotencyKey: string;
  description: string | null;
  metadata: Metadata | null;
  entries: NormalisedEntry[];
  /** sha256 of the canonical normalised request (key excluded): same key + other hash = conflict. */
  requestHash: string;
}

const REQUEST_KEYS: ReadonlySet<string> = new Set(['idempotencyKey', 'description', 'metadata', 'entries']);
const ENTRY_KEYS: ReadonlySet<string> = new Set(['account', 'asset', 'direction', 'amount', 'metadata']);

/**
 * Check a posting request and return it normalised (amounts as bigint,
 * absent fields as null, metadata deep-copied). Throws `ValidationError`
 * with the code of the first problem found, naming its path; nothing has
 * touched the database yet.
 */
export function validatePostingRequest(request: unknown): NormalisedPosting {
  const body = requireObject(request, 'request', REQUEST_KEYS);
  const idempotencyKey = validateText(body.idempotencyKey, 'idempotencyKey', { min: 1, max: MAX_IDEMPOTENCY_KEY_LENGTH, code: 'INVALID_REQUEST' });
  const description = body.description == null ? null : validateText(body.description, 'description', { min: 0, max: MAX_DESCRIPTION_LENGTH, code: 'INVALID_REQUEST' });
  const metadata = body.metadata == null ? null : validateMetadata(body.metadata, 'metadata');
  if (!Array.isArray(body.entries)) fail('INVALID_REQUEST', 'entries', 'must be an array');
  const rawEntries: unknown[] = body.entries;
  if (rawEntries.length < 2) fail('INVALID_REQUEST', 'entries', `a posting needs at least 2 entries, got ${rawEntries.length}`);
  if (rawEntries.length > MAX_ENTRIES) fail('INVALID_REQUEST', 'entries', `at most ${MAX_ENTRIES} entries, got ${rawEntries.length}`);
  const entries = rawEntries.map((raw, i) => validateEntry(raw, `entries[${i}]`));
  checkBalanced(entries);
  return { idempotencyKey, description, metadata, entries, requestHash: requestHash(description, metadata, entries) };
}

function validateEntry(raw: unknown, path: string): NormalisedEntry {
  const entry = requireObject(raw, path, ENTRY_KEYS);
  const account = validateText(entry.account, `${path}.account`, { min: 1, max: MAX_ACCOUNT_LENGTH, code: 'INVALID_REQUEST' });
  const asset = validateText(entry.asset, `${path}.asset`, { min: 1, max: MAX_ASSET_LENGTH, code: 'INVALID_REQUEST' });
  const direction = entry.direction;
  if (direction !== 'debit' && direction !== 'credit') fail('INVALID_REQUEST', `${path}.direction`, `must be "debit" or "credit", got ${JSON.stringify(direction) ?? typeof direction}`);
  const amount = parseAmount(entry.amount, `${path}.amount`);
  const metadata = entry.metadata == null ? null : validateMetadata(entry.metadata, `${path}.metadata`);
  return { account, asset, direction, amount, metadata };
}

function checkBalanced(entries: readonly NormalisedEntry[]): void {
  const sums = new Map<string, { debits: bigint; credits: bigint }>();
  for (const entry of entries) {
    const sum = sums.get(entry.asset) ?? { debits: 0n, credits: 0n };
    if (entry.direction === 'debit') sum.debits += entry.amount;
    else sum.credits += entry.amount;
    sums.set(entry.asset, sum);
  }
  const unbalanced = [...sums].filter(([, sum]) => sum.debits !== sum.credits).map(([asset, sum]) => ({ asset, debits: sum.debits.toString(), credits: sum.credits.toString() }));
  const first = unbalanced[0];
  if (first) {
    throw new ValidationError('UNBALANCED_ENTRIES', `entries: asset ${JSON.stringify(first.asset)} is unbalanced: debits ${first.debits} ≠ credits ${first.credits}`, {
      details: { path: 'entries', unbalanced },
    });
  }
}

function requestHash(description: string | null, metadata: Metadata | null, entries: readonly NormalisedEntry[]): string {
  const canonical: JsonValue = {
    v: 1,
    description,
    metadata,
    entries: entries.map((e) => ({ account: e.account, asset: e.asset, direction: e.direction, amount: e.amount.toString(), metadata: e.metadata })),
  };
  return canonicalHash(canonical);
}

function requireObject(value: unknown, path: string, allowed: ReadonlySet<string>): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('INVALID_REQUEST', path, 'must be an object');
  const record = value as Record<string, unknown>;
  // Unknown fields are refused so a typo (`metdata`) is not silently dropped.
  const unknown = Object.keys(record).filter((key) => !allowed.has(key) && record[key] !== undefined);
  if (unknown.length > 0) fail('INVALID_REQUEST', path, `unknown field(s): ${unknown.map((k) => JSON.stringify(k)).join(', ')}`);
  return record;
}

function fail(code: 'INVALID_REQUEST', path: string, message: string): never {
  throw new ValidationError(code, `${path}: ${message}`, { details: { path } });
}
