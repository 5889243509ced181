import { describe, expect, it } from 'vitest';
import { checkPackageFiles } from '../../scripts/checkPackageFiles.ts';

const MANIFEST = { bin: { 'outbox-relay': './dist/cli.js' }, exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' }, './package.json': './package.json' } };
const GOOD = ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/index.js', 'dist/index.d.ts', 'dist/index.d.ts.map', 'dist/cli.js', 'dist/control/console.html', 'drizzle/0000_init.sql', 'drizzle/meta/_journal.json'];

describe('the release file check', () => {
  it('passes the whitelisted files', () => {
    expect(checkPackageFiles(GOOD, MANIFEST)).toEqual({ unexpected: [], missing: [] });
  });

  it('flags tests, benchmarks, scripts, CI files, sources and snapshots as unexpected', () => {
    const extra = ['test/unit/x.unit.test.ts', 'bench/run.ts', 'scripts/test.sh', '.ci/run', 'src/index.ts', 'drizzle/meta/0000_snapshot.json', 'tsconfig.json', 'Dockerfile'];
    expect(checkPackageFiles([...GOOD, ...extra], MANIFEST).unexpected).toEqual(extra);
  });

  it('flags a missing bin or exports target, LICENSE and the migrations', () => {
    const without = GOOD.filter((p) => !['dist/cli.js', 'LICENSE', 'drizzle/0000_init.sql', 'dist/index.d.ts'].includes(p));
    expect(checkPackageFiles(without, MANIFEST).missing.sort()).toEqual(['LICENSE', 'dist/cli.js', 'dist/index.d.ts', 'drizzle/*.sql']);
  });

  it('flags the console page missing: the relay reads it at start when its ops endpoint is on', () => {
    expect(checkPackageFiles(GOOD.filter((p) => p !== 'dist/control/console.html'), MANIFEST).missing).toEqual(['dist/control/console.html']);
  });
});
