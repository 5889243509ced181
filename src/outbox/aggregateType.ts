/**
 * It names a MongoDB collection (`<aggregateType>_metadata`), so it stays short and plain.
 * Its own module, free of drizzle: the relay and `rebuild` import it (see db/sqlDb.ts for why that matters).
 */
export const AGGREGATE_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,47}$/;
