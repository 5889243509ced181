/**
 * Where tests find their databases, in this order:
 *   DATABASE_URL/MONGO_URL if set → testcontainers where a Docker engine
 *   answers → the local PostgreSQL + FerretDB that scripts/services.ts starts.
 */
import { dockerEngineAvailable } from '../../scripts/docker.ts';
import { ensureServices } from '../../scripts/services.ts';

export interface TestServices {
  databaseUrl: string;
  mongoUrl: string;
  source: 'env' | 'testcontainers' | 'local';
  stop: () => Promise<void>;
}

export async function resolveTestServices(): Promise<TestServices> {
  if (process.env.DATABASE_URL || process.env.MONGO_URL) {
    const services = await ensureServices(); // validates both are set and reachable
    return { ...services, source: 'env', stop: async () => {} };
  }
  if (process.env.OUTBOX_RELAY_NO_DOCKER !== '1' && (await dockerEngineAvailable())) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const { MongoDBContainer } = await import('@testcontainers/mongodb');
    const [postgres, mongo] = await Promise.all([
      new PostgreSqlContainer('postgres:17-alpine').start(),
      new MongoDBContainer('mongo:8').start(),
    ]);
    return {
      databaseUrl: postgres.getConnectionUri(),
      mongoUrl: `${mongo.getConnectionString()}?directConnection=true`,
      source: 'testcontainers',
      stop: async () => {
        await Promise.all([postgres.stop(), mongo.stop()]);
      },
    };
  }
  const services = await ensureServices();
  return { ...services, source: 'local', stop: async () => {} };
}
