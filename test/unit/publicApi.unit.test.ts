import { describe, expect, it } from 'vitest';
import * as drizzleApi from '../../src/drizzle.ts';
import * as api from '../../src/index.ts';

describe('public API', () => {
  it('exports the writer, relay and ops entry points and nothing internal', () => {
    for (const name of ['createPool', 'runMigrations', 'createBalance', 'postTransaction', 'updateTransactionMetadata', 'updateOperationMetadata', 'enqueue', 'createRelay', 'readLag', 'listDead', 'requeueDead', 'reconcile', 'rebuild']) {
      expect(typeof (api as Record<string, unknown>)[name], name).toBe('function');
    }
    expect(Object.keys(api)).not.toContain('claimBatch');
    expect(Object.keys(api)).not.toContain('markDelivered');
  });

  it('keeps the drizzle database in its own entry point, so the main one never loads drizzle-orm', () => {
    expect(Object.keys(api)).not.toContain('createDb');
    expect(typeof drizzleApi.createDb).toBe('function');
    expect(Object.keys(drizzleApi.schema)).toEqual(expect.arrayContaining(['balance', 'transaction', 'operation', 'outbox']));
  });
});
