import { describe, expect, it } from 'vitest';
import { OutboxRelayError } from '../../../src/errors.ts';
import { MAX_METADATA_BYTES, MAX_METADATA_DEPTH, validateMetadata } from '../../../src/metadata/validateMetadata.ts';

function refusal(value: unknown): OutboxRelayError {
  try {
    validateMetadata(value);
  } catch (error) {
    expect(error).toBeInstanceOf(OutboxRelayError);
    return error as OutboxRelayError;
  }
  throw new Error(`expected ${String(value)} to be refused`);
}

function nested(levels: number): Record<string, unknown> {
  // levels = number of objects, the outermost included.
  let value: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

class Money {
  amount = 1;
}

describe('validateMetadata', () => {
  it('accepts plain JSON objects, null-prototype objects, nesting and unicode, and returns an equal copy', () => {
    const input = { s: 'héllo 🌍 "quoted" \n', n: 1.5, i: -3, b: true, z: null, list: [1, 'two', { three: [] }], nested: { deep: { er: 'x' } } };
    const out = validateMetadata(input);
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
    const bare = Object.create(null) as Record<string, unknown>;
    bare.k = 'v';
    expect(validateMetadata(bare)).toEqual({ k: 'v' });
    expect(validateMetadata({})).toEqual({});
  });

  it('refuses anything that is not a plain object at the top', () => {
    for (const value of [null, undefined, [], 'x', 1, true, new Date(), new Map(), new Money()]) {
      expect(refusal(value).code).toBe('INVALID_METADATA');
    }
  });

  it.each([
    ['a Date', { when: new Date() }, 'metadata.when'],
    ['a BigInt', { n: 1n }, 'metadata.n'],
    ['a function', { f: () => 1 }, 'metadata.f'],
    ['undefined', { u: undefined }, 'metadata.u'],
    ['a symbol', { s: Symbol('x') }, 'metadata.s'],
    ['a class instance', { m: new Money() }, 'metadata.m'],
    ['a Map', { m: new Map() }, 'metadata.m'],
    ['NaN', { n: Number.NaN }, 'metadata.n'],
    ['Infinity', { n: Number.POSITIVE_INFINITY }, 'metadata.n'],
    ['-Infinity', { n: Number.NEGATIVE_INFINITY }, 'metadata.n'],
    ['-0', { n: -0 }, 'metadata.n'],
    ['a lone high surrogate', { s: 'a\uD800b' }, 'metadata.s'],
    ['a lone low surrogate', { s: '\uDC00' }, 'metadata.s'],
    ['a NUL in a string', { s: 'a\u0000b' }, 'metadata.s'],
    ['a bad value inside an array', { list: [1, { x: new Date() }] }, 'metadata.list[1].x'],
    ['a sparse array', { list: [1, , 3] }, 'metadata.list'],
  ])('refuses %s and names its path', (_label, value, path) => {
    const error = refusal(value);
    expect(error.code).toBe('INVALID_METADATA');
    expect(error.details.path).toBe(path);
    expect(error.message).toContain(path);
  });

  it.each([
    ['an empty key', ''],
    ['a key starting with $', '$set'],
    ['a key containing a dot', 'a.b'],
    ['a key containing NUL', 'a\u0000b'],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['prototype', 'prototype'],
  ])('refuses %s', (_label, key) => {
    // JSON.parse makes `__proto__` an own key, the way hostile input arrives.
    const value = JSON.parse(`{"outer": {${JSON.stringify(key)}: 1}}`) as unknown;
    const error = refusal(value);
    expect(error.code).toBe('INVALID_METADATA');
    expect(String(error.details.path)).toContain('metadata.outer');
  });

  it('refuses symbol keys, accessors and non-enumerable properties', () => {
    expect(refusal({ [Symbol('k')]: 1 }).code).toBe('INVALID_METADATA');
    expect(refusal({ get x() { return 1; } }).code).toBe('INVALID_METADATA');
    const hidden = {};
    Object.defineProperty(hidden, 'h', { value: 1, enumerable: false });
    expect(refusal(hidden).code).toBe('INVALID_METADATA');
  });

  it('refuses circular references, but accepts the same object twice side by side', () => {
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    const error = refusal({ wrapper: loop });
    expect(error.message).toMatch(/circular/);
    expect(error.details.path).toBe('metadata.wrapper.self');
    const shared = { x: 1 };
    expect(validateMetadata({ a: shared, b: shared })).toEqual({ a: { x: 1 }, b: { x: 1 } });
  });

  it(`accepts ${MAX_METADATA_DEPTH} levels of nesting and refuses ${MAX_METADATA_DEPTH + 1}`, () => {
    expect(() => validateMetadata(nested(MAX_METADATA_DEPTH))).not.toThrow();
    expect(refusal(nested(MAX_METADATA_DEPTH + 1)).message).toMatch(/deeper than 32/);
    const arrays: unknown[] = [];
    let cursor = arrays;
    for (let i = 0; i < MAX_METADATA_DEPTH; i++) {
      const next: unknown[] = [];
      cursor.push(next);
      cursor = next;
    }
    expect(refusal({ arrays }).message).toMatch(/deeper/);
  });

  it('refuses nesting 1,000 (and 100,000) deep with a typed error, not a stack overflow', () => {
    expect(refusal(nested(1_000)).code).toBe('INVALID_METADATA');
    expect(refusal(nested(100_000)).code).toBe('INVALID_METADATA');
  });

  it('accepts exactly MAX_METADATA_BYTES of JSON and refuses one byte more (counted in UTF-8)', () => {
    const overhead = JSON.stringify({ s: '' }).length;
    const fits = { s: 'x'.repeat(MAX_METADATA_BYTES - overhead) };
    expect(Buffer.byteLength(JSON.stringify(fits))).toBe(MAX_METADATA_BYTES);
    expect(() => validateMetadata(fits)).not.toThrow();
    expect(refusal({ s: 'x'.repeat(MAX_METADATA_BYTES - overhead + 1) }).message).toMatch(/larger than/);
    // é is two bytes in UTF-8: half as many characters already reach the limit.
    expect(refusal({ s: 'é'.repeat(MAX_METADATA_BYTES / 2) }).code).toBe('INVALID_METADATA');
    // Escapes count as written: a newline is two bytes of JSON.
    expect(refusal({ s: '\n'.repeat(MAX_METADATA_BYTES / 2) }).code).toBe('INVALID_METADATA');
  });

  it('counts the bytes of keys, commas and nested containers exactly', () => {
    const value = { list: [1, 'two', null, true, { k: [] }], 'we ird': { x: 1.25 } };
    const size = Buffer.byteLength(JSON.stringify(value));
    const pad = MAX_METADATA_BYTES - size - JSON.stringify({ p: '' }).length + 1;
    expect(() => validateMetadata({ ...value, p: 'x'.repeat(pad) })).not.toThrow();
    expect(() => validateMetadata({ ...value, p: 'x'.repeat(pad + 1) })).toThrow(/larger than/);
  });

  it('refuses a small graph that would serialize exponentially large without walking all of it', () => {
    let value: Record<string, unknown> = { leaf: 'x'.repeat(100) };
    for (let i = 0; i < 30; i++) value = { a: value, b: value };
    const started = Date.now();
    expect(refusal(value).message).toMatch(/larger than/);
    // Walking it all (2^30 leaves) would take hours; the bound only rules that out.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('uses a custom root path in messages', () => {
    try {
      validateMetadata({ bad: Number.NaN }, 'entries[3].metadata');
      expect.unreachable();
    } catch (error) {
      expect((error as OutboxRelayError).details.path).toBe('entries[3].metadata.bad');
    }
  });
});
