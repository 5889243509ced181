import { describe, expect, it } from 'vitest';
import { metadataHash } from '../../../src/metadata/metadataHash.ts';
import { classifyDrift } from '../../../src/reconcile/classifyDrift.ts';

const metadata = { b: [1, { y: 2, x: 1 }], a: 'text' };
const expected = { id: 'e1', version: 3, hash: metadataHash(metadata) };

describe('classifyDrift', () => {
  it('a document at the expected version with the same content (keys in any order) is in sync', () => {
    expect(classifyDrift(expected, { _id: 'e1', version: 3, metadata: { a: 'text', b: [1, { x: 1, y: 2 }] } })).toEqual({ drift: false });
  });

  it('no document is missing', () => {
    expect(classifyDrift(expected, undefined)).toMatchObject({ drift: true, kind: 'missing' });
  });

  it('a lower version is stale, a higher one is ahead, whatever the content', () => {
    expect(classifyDrift(expected, { _id: 'e1', version: 2, metadata })).toMatchObject({ drift: true, kind: 'stale', storedVersion: 2 });
    expect(classifyDrift(expected, { _id: 'e1', version: 4, metadata })).toMatchObject({ drift: true, kind: 'ahead', storedVersion: 4 });
  });

  it('other content at the same version is mismatched, array order counts', () => {
    expect(classifyDrift(expected, { _id: 'e1', version: 3, metadata: { ...metadata, a: 'other' } })).toMatchObject({ drift: true, kind: 'mismatched', storedVersion: 3 });
    expect(classifyDrift(expected, { _id: 'e1', version: 3, metadata: { a: 'text', b: [{ x: 1, y: 2 }, 1] } })).toMatchObject({ kind: 'mismatched' });
  });

  it('a malformed document (no numeric version, metadata not an object) is mismatched, never a crash', () => {
    expect(classifyDrift(expected, { _id: 'e1', version: '3', metadata })).toMatchObject({ drift: true, kind: 'mismatched', storedVersion: '3' });
    expect(classifyDrift(expected, { _id: 'e1', version: 3, metadata: [1, 2] })).toMatchObject({ drift: true, kind: 'mismatched' });
    expect(classifyDrift(expected, { _id: 'e1', version: 3 })).toMatchObject({ drift: true, kind: 'mismatched' });
  });
});
