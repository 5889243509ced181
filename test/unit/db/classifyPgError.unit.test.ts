import { describe, expect, it } from 'vitest';
import { classifyPgError } from '../../../src/db/classifyPgError.ts';
import { DatabaseError } from '../../../src/errors.ts';

/** The shape node-postgres gives a server error: SQLSTATE in `code`, plus a severity. */
const serverError = (code: string, message = 'x') => Object.assign(new Error(message), { code, severity: 'ERROR' });

describe('classifyPgError', () => {
  it('a read-only server (25006: hot standby, default_transaction_read_only) is a reconnect, not a statement error', () => {
    expect(classifyPgError(serverError('25006', 'cannot execute UPDATE in a read-only transaction'))).toBe('reconnect');
  });

  it('restart and failover answers are reconnects: admin/crash shutdown, starting up, connection failures, PgBouncer protocol errors', () => {
    for (const code of ['57P01', '57P02', '57P03', '08006', '08003', '08P01', '53300']) expect(classifyPgError(serverError(code)), code).toBe('reconnect');
  });

  it('a connection that is gone, without any SQLSTATE, is a reconnect (node-postgres and Node errors, through causes)', () => {
    expect(classifyPgError(new Error('Connection terminated unexpectedly'))).toBe('reconnect');
    expect(classifyPgError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe('reconnect');
    expect(classifyPgError(new DatabaseError('wrapped', { cause: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }) }))).toBe('reconnect');
    expect(classifyPgError(new DatabaseError('wrapped', { cause: serverError('25006') }))).toBe('reconnect');
  });

  it('serialization failures and deadlocks retry the transaction; anything else is about the statement', () => {
    expect(classifyPgError(serverError('40001'))).toBe('retry-transaction');
    expect(classifyPgError(serverError('40P01'))).toBe('retry-transaction');
    for (const code of ['23505', '42P01', '22012', '42601']) expect(classifyPgError(serverError(code)), code).toBe('other');
    expect(classifyPgError(new Error('something else'))).toBe('other');
    expect(classifyPgError('a string')).toBe('other');
  });
});
