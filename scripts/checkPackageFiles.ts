/**
 * What the published tarball may hold, and what it must hold. Used by
 * `npm run release:check` (scripts/releaseCheck.ts) and the consumer test.
 * A new kind of file in the package is a decision: add it here on purpose.
 */

/**
 * Files the compiled code reads at run time that tsc does not emit (the build
 * copies them): without the console page a relay with its ops endpoint on
 * (the default) fails at start.
 */
export const RUNTIME_ASSETS: readonly string[] = ['dist/control/console.html'];

/** Every path in the tarball must match one of these. */
const ALLOWED: readonly RegExp[] = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^CHANGELOG\.md$/,
  /^dist\/[\w/.-]+\.(js|d\.ts|d\.ts\.map)$/,
  /^drizzle\/\d{4}_\w+\.sql$/,
  /^drizzle\/meta\/_journal\.json$/,
];

export interface PackageManifest {
  bin?: string | Record<string, string>;
  exports?: unknown;
  types?: string;
}

export interface PackageFilesCheck {
  /** In the tarball, but matching no rule. */
  unexpected: string[];
  /** Needed (LICENSE, the migrations journal, the runtime assets, every bin/exports/types target), but absent. */
  missing: string[];
}

/** Every file path package.json points at (bin, exports, types), without a leading `./`. */
function targetsOf(manifest: PackageManifest): string[] {
  const out: string[] = [];
  const walk = (value: unknown) => {
    if (typeof value === 'string') out.push(value);
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(manifest.bin);
  walk(manifest.exports);
  walk(manifest.types);
  return out.map((p) => p.replace(/^\.\//, ''));
}

export function checkPackageFiles(paths: readonly string[], manifest: PackageManifest): PackageFilesCheck {
  const present = new Set(paths);
  const unexpected = paths.filter((p) => !RUNTIME_ASSETS.includes(p) && !ALLOWED.some((rule) => rule.test(p)));
  const needed = ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'drizzle/meta/_journal.json', ...RUNTIME_ASSETS, ...targetsOf(manifest)];
  const missing = [...new Set(needed)].filter((p) => !present.has(p));
  if (!paths.some((p) => /^drizzle\/\d{4}_\w+\.sql$/.test(p))) missing.push('drizzle/*.sql');
  return { unexpected, missing };
}
