import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { relativeLinksOf } from '../../../scripts/checkDocLinks.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };

describe('the README', () => {
  it('stays a landing page: at most 250 lines', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
  });

  it('states the Node engine package.json declares', () => {
    const floor = pkg.engines.node.replace(/^>=\s*/, '');
    expect(readme).toContain(`Node ≥ ${floor}`);
  });

  it('gives the two commands as scripts/demo.sh and scripts/test.sh run them', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.demo).toBe('bash scripts/demo.sh');
    expect(scripts.test).toBe('bash scripts/test.sh');
    expect(readme).toContain('`npm run demo`');
    expect(readme).toContain('`npm test`');
  });

  it('reaches every page of docs/ through its links', () => {
    const reached = new Set<string>();
    const queue = ['README.md'];
    while (queue.length > 0) {
      const file = queue.shift()!;
      // A missing page is the link checker's finding (docLinks.unit.test.ts), not this test's.
      if (reached.has(file) || !existsSync(join(ROOT, file))) continue;
      reached.add(file);
      for (const { target } of relativeLinksOf(readFileSync(join(ROOT, file), 'utf8'))) {
        const path = target.split('#')[0]!;
        if (!path.endsWith('.md')) continue;
        const linked = normalize(join(dirname(file), decodeURIComponent(path)));
        if (linked.startsWith('docs/') || linked === 'README.md') queue.push(linked);
      }
    }
    const pages = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
    expect(pages.filter((page) => !reached.has(page))).toEqual([]);
  });
});
