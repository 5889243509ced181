import { MongoBulkWriteError, MongoNetworkError, MongoNetworkTimeoutError, MongoNotConnectedError, MongoServerError, MongoServerSelectionError, MongoTopologyClosedError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { classifyRequestError, classifyWriteError, isClosedTopologyError } from '../../../src/sink/classifyMongoError.ts';

describe('classifyWriteError (one operation of a bulk write)', () => {
  it('calls a duplicate key on the fenced upsert a duplicate (a newer or equal version is there)', () => {
    expect(classifyWriteError({ code: 11000, errmsg: 'E11000 duplicate key error collection: db.transaction_metadata' })).toBe('duplicate');
  });

  it.each([189, 91, 10107, 13435, 13436, 11600, 11602, 6, 7, 89, 9001, 262, 50, 112])('retries the batch on code %i', (code) => {
    expect(classifyWriteError({ code, errmsg: 'whatever' })).toBe('transient');
  });

  it('retries on the legacy "not master" message whatever the code', () => {
    expect(classifyWriteError({ code: 10058, errmsg: 'not master' })).toBe('transient');
    expect(classifyWriteError({ code: 1, errmsg: 'node is recovering' })).toBe('transient');
  });

  it.each([
    [10334, 'BSONObjectTooLarge'],
    [17419, 'Resulting document after update is larger than 16777216'],
    [2, 'invalid key: "$bad" (key must not start with \'$\' sign)'],
    [52, "The dollar ($) prefixed field '$bad' in 'metadata.$bad' is not valid for storage."],
    [55, 'DBRef error'],
    [56, 'empty field name'],
    [57, 'dotted field name'],
  ])('fails the event for good on code %i', (code, errmsg) => {
    expect(classifyWriteError({ code, errmsg })).toBe('permanent');
  });

  it('treats a missing code as permanent rather than retrying forever', () => {
    expect(classifyWriteError({ errmsg: 'something odd' })).toBe('permanent');
  });
});

describe('classifyRequestError (a whole request failed)', () => {
  it('retries network errors, timeouts and server selection failures', () => {
    expect(classifyRequestError(new MongoNetworkError('connection reset'))).toBe('transient');
    expect(classifyRequestError(new MongoNetworkTimeoutError('timed out'))).toBe('transient');
    expect(classifyRequestError(new MongoServerSelectionError('no server', { type: 'Unknown', servers: new Map() } as never))).toBe('transient');
  });

  it('retries a pool-cleared error, recognised by name', () => {
    const error = Object.assign(new Error('pool cleared'), { name: 'MongoPoolClearedError' });
    expect(classifyRequestError(error)).toBe('transient');
  });

  it('retries server errors labelled retryable, and not-primary codes', () => {
    const labelled = new MongoServerError({ message: 'try again', code: 999, errorLabels: ['RetryableWriteError'] });
    expect(classifyRequestError(labelled)).toBe('transient');
    const transaction = new MongoServerError({ message: 'try again', code: 999, errorLabels: ['TransientTransactionError'] });
    expect(classifyRequestError(transaction)).toBe('transient');
    expect(classifyRequestError(new MongoServerError({ message: 'stepped down', code: 189 }))).toBe('transient');
    expect(classifyRequestError(new MongoServerError({ message: 'not primary', code: 10107 }))).toBe('transient');
  });

  it('sees a network error the driver wrapped in a MongoBulkWriteError', () => {
    const wrapped = new MongoBulkWriteError(new MongoNetworkError('socket closed') as never, {} as never);
    expect(wrapped.name).toBe('MongoBulkWriteError');
    expect(classifyRequestError(wrapped)).toBe('transient');
  });

  it('sees a transient error through a cause chain', () => {
    expect(classifyRequestError(new Error('outer', { cause: new MongoNetworkError('inner') }))).toBe('transient');
  });

  it('retries a topology that closed itself after a failed first connection, and says it needs connect()', () => {
    const wrapped = new MongoBulkWriteError(new MongoTopologyClosedError() as never, {} as never);
    expect(classifyRequestError(new MongoTopologyClosedError())).toBe('transient');
    expect(isClosedTopologyError(wrapped)).toBe(true);
    expect(isClosedTopologyError(new Error('sink', { cause: new MongoTopologyClosedError() }))).toBe(true);
    expect(isClosedTopologyError(new MongoNotConnectedError('Client must be connected before running operations'))).toBe(false);
  });

  it('gives up at once when retrying cannot help and no event is at fault', () => {
    expect(classifyRequestError(new MongoNotConnectedError('Client must be connected before running operations'))).toBe('unavailable');
    expect(classifyRequestError(new MongoServerError({ message: 'Authentication failed.', code: 18 }))).toBe('unavailable');
    expect(classifyRequestError(new MongoServerError({ message: 'not authorized', code: 13 }))).toBe('unavailable');
  });

  it('calls anything else permanent so the operation at fault gets isolated', () => {
    expect(classifyRequestError(new RangeError('The value of "offset" is out of range.'))).toBe('permanent');
    expect(classifyRequestError(new MongoServerError({ message: 'invalid namespace', code: 73 }))).toBe('permanent');
    expect(classifyRequestError('a string')).toBe('permanent');
    expect(classifyRequestError(null)).toBe('permanent');
  });
});
