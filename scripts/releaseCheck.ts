/**
 * `npm run release:check`: what `npm pack` would publish (it builds first,
 * through prepack), checked against scripts/checkPackageFiles.ts. Exit 1 on
 * any unexpected or missing file; prints the file count and sizes.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkPackageFiles, type PackageManifest } from './checkPackageFiles.ts';

const REPO = dirname(dirname(fileURLToPath(import.meta.url)));

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: { path: string }[];
}

const out = execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
const [pack] = JSON.parse(out) as PackResult[];
if (!pack) throw new Error('npm pack --dry-run --json printed no result');
const manifest = JSON.parse(readFileSync(`${REPO}/package.json`, 'utf8')) as PackageManifest;
const { unexpected, missing } = checkPackageFiles(
  pack.files.map((f) => f.path),
  manifest,
);
console.log(`${pack.filename}: ${pack.entryCount} files, ${(pack.size / 1024).toFixed(1)} KiB packed, ${(pack.unpackedSize / 1024).toFixed(1)} KiB unpacked`);
for (const p of unexpected) console.error(`unexpected in the package: ${p}`);
for (const p of missing) console.error(`missing from the package: ${p}`);
if (unexpected.length > 0 || missing.length > 0) process.exit(1);
console.log('release check: ok');
