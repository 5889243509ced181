/** The same server, another database. */
export function withDatabase(databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export function adminUrl(databaseUrl: string): string {
  return withDatabase(databaseUrl, 'postgres');
}
