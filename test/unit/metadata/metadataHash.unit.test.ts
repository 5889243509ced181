import { describe, expect, it } from 'vitest';
import { metadataHash } from '../../../src/metadata/metadataHash.ts';

describe('metadataHash', () => {
  it('does not depend on key order, at any depth', () => {
    const a = { x: 1, y: { p: [1, { q: 1, r: 2 }], o: 'z' } };
    const b = { y: { o: 'z', p: [1, { r: 2, q: 1 }] }, x: 1 };
    expect(metadataHash(a)).toBe(metadataHash(b));
    expect(metadataHash(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with any value, with array order, and with types that print alike', () => {
    const base = metadataHash({ list: [1, 2], s: '1' });
    expect(metadataHash({ list: [2, 1], s: '1' })).not.toBe(base);
    expect(metadataHash({ list: [1, 2], s: 1 })).not.toBe(base);
    expect(metadataHash({ list: [1, 2], s: '1', extra: null })).not.toBe(base);
  });

  it('is the sha256 of the sorted-key JSON', async () => {
    const { createHash } = await import('node:crypto');
    expect(metadataHash({ b: 1, a: 'x' })).toBe(createHash('sha256').update('{"a":"x","b":1}').digest('hex'));
  });
});
