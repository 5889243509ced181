/**
 * 'outbox-relay/drizzle': for services that use drizzle-orm themselves. A
 * drizzle database over this library's schema (typed queries on balance,
 * transaction, operation, outbox), and the schema's tables. Every writer
 * function also takes the drizzle database or a drizzle transaction.
 */
export { createDb, schema } from './db/client.ts';
export type { Db, Schema } from './db/client.ts';
