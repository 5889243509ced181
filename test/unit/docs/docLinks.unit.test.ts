import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { anchorsOf, checkDocLinks, githubSlug } from '../../../scripts/checkDocLinks.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

describe('the documentation links', () => {
  it('every relative link and #anchor in README.md and docs/*.md resolves', () => {
    const broken = checkDocLinks(ROOT).map((p) => `${p.file}:${p.line}: ${p.target}: ${p.reason}`);
    expect(broken).toEqual([]);
  });
});

describe('githubSlug, as GitHub makes heading ids', () => {
  it.each([
    ['Deployment: PostgreSQL poolers, restarts and failover', 'deployment-postgresql-poolers-restarts-and-failover'],
    ['Multi-tenant: one fleet of relays for many tenant databases', 'multi-tenant-one-fleet-of-relays-for-many-tenant-databases'],
    ['Rolling upgrade: relays before writers', 'rolling-upgrade-relays-before-writers'],
    ['A & B', 'a--b'],
    ['What limits what, on this machine', 'what-limits-what-on-this-machine'],
    ['snake_case stays', 'snake_case-stays'],
    ['Café — déjà vu', 'café--déjà-vu'],
  ])('%s → %s', (heading, slug) => {
    expect(githubSlug(heading)).toBe(slug);
  });

  it('reads headings as rendered text (code spans, links, emphasis) and numbers repeats -1, -2', () => {
    const anchors = anchorsOf(['# Databases: `npm run services`', '## [The relay](relay.md) **now**', '### Pause', '### Pause', '### Pause'].join('\n'));
    expect([...anchors]).toEqual(['databases-npm-run-services', 'the-relay-now', 'pause', 'pause-1', 'pause-2']);
  });

  it('ignores headings inside fenced code and takes explicit <a id> anchors', () => {
    const anchors = anchorsOf(['```sh', '# not a heading', '```', '<a id="custom"></a>', '## Real'].join('\n'));
    expect([...anchors].sort()).toEqual(['custom', 'real']);
  });
});

describe('checkDocLinks on a small repository', () => {
  let root: string | undefined;
  afterEach(() => {
    if (root) rmSync(root, { recursive: true, force: true });
    root = undefined;
  });
  function repo(files: Record<string, string>): string {
    root = mkdtempSync(join(tmpdir(), 'doclinks-'));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  }

  it('fails on a missing file, a missing anchor (same or other file), an anchor into a non-markdown file, and a link out of the repository', () => {
    const dir = repo({
      'README.md': '# Top\n[ok](docs/a.md#section-one) [gone](docs/missing.md) [bad](docs/a.md#nope) [self](#top) [selfbad](#bottom)\n',
      'docs/a.md': '# A\n## Section one\n[up](../README.md#top) [out](../../elsewhere.md) [img](pic.png) [anchor](../code.ts#L3)\n',
      'docs/pic.png': 'png',
      'code.ts': '',
    });
    expect(checkDocLinks(dir).map((p) => [p.file, p.line, p.target, p.reason])).toEqual([
      ['README.md', 2, 'docs/missing.md', 'no such file: docs/missing.md'],
      ['README.md', 2, 'docs/a.md#nope', 'no heading with anchor #nope in docs/a.md'],
      ['README.md', 2, '#bottom', 'no heading with anchor #bottom in README.md'],
      ['docs/a.md', 3, '../../elsewhere.md', 'points outside the repository'],
      ['docs/a.md', 3, '../code.ts#L3', 'an anchor into code.ts, which is not a markdown file'],
    ]);
  });

  it('skips external links and links inside code, and checks images and reference definitions', () => {
    const dir = repo({
      'README.md': [
        '# R',
        '[web](https://example.com/x.md) [mail](mailto:a@b.c) `[code](nothere.md)`',
        '```',
        '[fenced](nothere.md)',
        '```',
        '![pic](docs/missing.png)',
        '[ref]: docs/alsomissing.md',
      ].join('\n'),
    });
    expect(checkDocLinks(dir).map((p) => p.target)).toEqual(['docs/missing.png', 'docs/alsomissing.md']);
  });
});
