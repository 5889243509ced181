import { MongoClient } from 'mongodb';

/** One MongoDB client per server URL: a process serving many tenants on one server shares its connection pool. */
export function createMongoClient(url: string): MongoClient {
  return new MongoClient(url, { serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000, appName: 'outbox-relay' });
}
