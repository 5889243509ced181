import { defineConfig } from 'drizzle-kit';

// drizzle-kit owns the schema: `npm run db:generate` writes SQL into drizzle/.
// Hand-written SQL (the view, the NOTIFY trigger) lives in custom migrations
// (`drizzle-kit generate --custom`) so the journal stays the one truth.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/outbox_relay' },
  strict: true,
  verbose: false,
});
