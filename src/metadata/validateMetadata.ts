import { ValidationError } from '../errors.ts';
import type { JsonValue, Metadata } from '../types.ts';

/** Deepest allowed nesting; the metadata object itself is level 1. */
export const MAX_METADATA_DEPTH = 32;
/** Largest allowed metadata, in UTF-8 bytes of its JSON text. */
export const MAX_METADATA_BYTES = 256 * 1024;

// `$`-prefixed and dotted keys are operators / paths to MongoDB; the other
// three are prototype-pollution vectors for whoever reads the document back.
const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Check that `value` is metadata Postgres jsonb and MongoDB both store
 * verbatim, and return a plain deep copy of it (so later mutation of the
 * caller's object cannot change what was validated).
 *
 * Throws `ValidationError('INVALID_METADATA')` naming the offending path.
 */
export function validateMetadata(value: unknown, path = 'metadata'): Metadata {
  if (!isPlainObject(value)) fail(path, `must be a plain JSON object, got ${describe(value)}`);
  const walker = new Walker(path);
  return walker.visit(value, path, 1) as Metadata;
}

/** Where a string is unsafe to store verbatim (Postgres refuses NUL; lone surrogates are not UTF-8), or undefined. */
export function unsafeStringReason(value: string): string | undefined {
  if (value.includes('\u0000')) return 'contains a NUL character';
  if (LONE_SURROGATE.test(value)) return 'contains a lone UTF-16 surrogate';
  return undefined;
}

class Walker {
  private bytes = 0;
  // Only the current path: the same object twice side by side is fine, an
  // object inside itself is not.
  private readonly ancestors = new Set<object>();
  private readonly rootPath: string;

  constructor(rootPath: string) {
    this.rootPath = rootPath;
  }

  visit(value: unknown, path: string, depth: number): JsonValue {
    switch (typeof value) {
      case 'string': {
        const reason = unsafeStringReason(value);
        if (reason) fail(path, `string ${reason}`);
        this.add(Buffer.byteLength(JSON.stringify(value)));
        return value;
      }
      case 'number':
        if (!Number.isFinite(value)) fail(path, `${value} is not representable in JSON`);
        if (Object.is(value, -0)) fail(path, '-0 is not representable in JSON');
        this.add(JSON.stringify(value).length);
        return value;
      case 'boolean':
        this.add(value ? 4 : 5);
        return value;
      case 'object':
        if (value === null) {
          this.add(4);
          return null;
        }
        return this.visitContainer(value, path, depth);
      default:
        return fail(path, `${describe(value)} is not a JSON value`);
    }
  }

  private visitContainer(value: object, path: string, depth: number): JsonValue {
    if (this.ancestors.has(value)) fail(path, 'circular reference');
    if (depth > MAX_METADATA_DEPTH) fail(path, `nested deeper than ${MAX_METADATA_DEPTH} levels`);
    this.ancestors.add(value);
    try {
      if (Array.isArray(value) && Object.getPrototypeOf(value) === Array.prototype) return this.visitArray(value, path, depth);
      if (isPlainObject(value)) return this.visitObject(value, path, depth);
      return fail(path, `${describe(value)} is not a JSON value`);
    } finally {
      this.ancestors.delete(value);
    }
  }

  private visitArray(value: unknown[], path: string, depth: number): JsonValue[] {
    // Own keys are the indices plus `length`; anything else is a hole or an extra property JSON would drop.
    if (Reflect.ownKeys(value).length !== value.length + 1) fail(path, 'sparse arrays and arrays with extra properties are not JSON');
    this.add(2 + Math.max(0, value.length - 1));
    const out: JsonValue[] = [];
    for (let i = 0; i < value.length; i++) {
      const descriptor = Object.getOwnPropertyDescriptor(value, i);
      if (!descriptor || !('value' in descriptor)) fail(`${path}[${i}]`, 'sparse arrays and accessor properties are not JSON');
      out.push(this.visit(descriptor.value, `${path}[${i}]`, depth + 1));
    }
    return out;
  }

  private visitObject(value: object, path: string, depth: number): { [key: string]: JsonValue } {
    const keys = Reflect.ownKeys(value);
    this.add(2 + Math.max(0, keys.length - 1));
    const out: { [key: string]: JsonValue } = {};
    for (const key of keys) {
      if (typeof key === 'symbol') fail(path, `symbol key ${String(key)} is not JSON`);
      const childPath = SIMPLE_KEY.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
      checkKey(key, childPath);
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      if (!descriptor || !('value' in descriptor) || !descriptor.enumerable) fail(childPath, 'accessor and non-enumerable properties are not JSON');
      this.add(Buffer.byteLength(JSON.stringify(key)) + 1);
      out[key] = this.visit(descriptor.value, childPath, depth + 1);
    }
    return out;
  }

  // Counting as we go (rather than stringifying at the end) keeps a huge or
  // exponentially shared input from costing more than the limit to refuse.
  private add(bytes: number): void {
    this.bytes += bytes;
    if (this.bytes > MAX_METADATA_BYTES) fail(this.rootPath, `larger than ${MAX_METADATA_BYTES} bytes as JSON`, { maxBytes: MAX_METADATA_BYTES });
  }
}

function checkKey(key: string, path: string): void {
  if (key === '') fail(path, 'empty key');
  if (key.startsWith('$')) fail(path, 'key must not start with "$"');
  if (key.includes('.')) fail(path, 'key must not contain "."');
  if (RESERVED_KEYS.has(key)) fail(path, `key "${key}" is reserved`);
  const reason = unsafeStringReason(key);
  if (reason) fail(path, `key ${reason}`);
}

function isPlainObject(value: unknown): value is object {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') {
    const name = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    return typeof name === 'string' && name !== '' ? `an instance of ${name}` : 'an object with a custom prototype';
  }
  if (typeof value === 'function') return 'a function';
  return `a ${typeof value}`;
}

function fail(path: string, message: string, details: Record<string, unknown> = {}): never {
  throw new ValidationError('INVALID_METADATA', `${path}: ${message}`, { details: { path, ...details } });
}
