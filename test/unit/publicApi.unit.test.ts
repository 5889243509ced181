import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.ts';

describe('public API', () => {
  it('exports the writer, relay and ops entry points and nothing internal', () => {
    for (const name of ['createPool', 'createDb', 'runMigrations', 'createBalance', 'postTransaction', 'updateTransactionMetadata', 'updateOperationMetadata', 'enqueue', 'createRelay', 'readLag', 'listDead', 'requeueDead', 'reconcile', 'rebuild']) {
      expect(typeof (api as Record<string, unknown>)[name], name).toBe('function');
    }
    expect(Object.keys(api)).not.toContain('claimBatch');
    expect(Object.keys(api)).not.toContain('markDelivered');
  });
});
