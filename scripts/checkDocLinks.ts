/**
 * Checks the relative links of README.md and docs/*.md: every linked file
 * exists inside the repository, and every `#anchor` names a heading (or an
 * explicit `<a id>`/`<a name>`) of its target, slugged the way GitHub does.
 * Run from a unit test (test/unit/docs/docLinks.unit.test.ts) so CI fails on a
 * moved section; `node scripts/checkDocLinks.ts` prints the same findings.
 *
 * External links (any scheme, e.g. https:, mailto:) are not fetched: CI has
 * no network to the places they name, and a flaky remote must not fail a build.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DocLinkProblem {
  /** The file holding the link, relative to the repository root. */
  file: string;
  line: number;
  target: string;
  reason: string;
}

/**
 * GitHub's heading id (github-slugger): lower case, every character that is
 * not a letter, mark, digit, connector (`_`), hyphen or space removed, spaces
 * turned into hyphens. Runs of hyphens are NOT collapsed ("A & B" → "a--b").
 */
export function githubSlug(headingText: string): string {
  return headingText
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The text GitHub renders for a heading's inline markdown (code, links, emphasis). */
function headingText(markdown: string): string {
  return markdown
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images keep their text
    .replace(/`([^`]*)`/g, '$1') // code spans keep their content
    .replace(/<[^>]+>/g, '') // inline HTML tags render no text
    .replace(/(\*\*|__|\*)(.+?)\1/g, '$2') // emphasis markers
    .trim();
}

interface Line {
  number: number;
  text: string;
}

/** The lines outside fenced code blocks (``` or ~~~), where links and headings are real. */
function proseLines(markdown: string): Line[] {
  const out: Line[] = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((text, i) => {
    const opening = /^\s{0,3}(`{3,}|~{3,})/.exec(text);
    if (fence === undefined && opening) {
      fence = opening[1]!;
      return;
    }
    if (fence !== undefined) {
      if (new RegExp(`^\\s{0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`).test(text)) fence = undefined;
      return;
    }
    out.push({ number: i + 1, text });
  });
  return out;
}

/** Every anchor a markdown file offers: heading ids (with GitHub's -1, -2 for repeats) and explicit ids. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (heading) {
      const base = githubSlug(headingText(heading[1]!));
      const count = seen.get(base) ?? 0;
      anchors.add(count === 0 ? base : `${base}-${count}`);
      seen.set(base, count + 1);
    }
    for (const m of text.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(m[1]!);
  }
  return anchors;
}

/** Link targets on one line of prose: inline links and images, and reference definitions. Code spans are skipped. */
function linkTargets(text: string): string[] {
  const withoutCode = text.replace(/`[^`]*`/g, (span) => ' '.repeat(span.length));
  const targets: string[] = [];
  for (const m of withoutCode.matchAll(/!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+"[^"]*")?\s*\)/g)) {
    targets.push(m[1]!.replace(/^<|>$/g, ''));
  }
  const definition = /^\s{0,3}\[[^\]]+\]:\s*(\S+)/.exec(withoutCode);
  if (definition) targets.push(definition[1]!.replace(/^<|>$/g, ''));
  return targets;
}

const EXTERNAL = /^[a-z][a-z0-9+.-]*:|^\/\//i;

/** The relative link targets of a markdown file (outside code), with their line numbers. */
export function relativeLinksOf(markdown: string): { line: number; target: string }[] {
  return proseLines(markdown).flatMap(({ number, text }) =>
    linkTargets(text)
      .filter((target) => !EXTERNAL.test(target))
      .map((target) => ({ line: number, target })),
  );
}

/** The markdown files whose links are checked: README.md and every docs/*.md. */
export function documentationFiles(root: string): string[] {
  const docs = join(root, 'docs');
  const inDocs = existsSync(docs)
    ? readdirSync(docs)
        .filter((name) => name.endsWith('.md'))
        .sort()
        .map((name) => join('docs', name))
    : [];
  return ['README.md', ...inDocs];
}

export function checkDocLinks(root: string, files: readonly string[] = documentationFiles(root)): DocLinkProblem[] {
  const anchorCache = new Map<string, Set<string>>();
  const anchorsIn = (path: string): Set<string> => {
    let anchors = anchorCache.get(path);
    if (!anchors) {
      anchors = anchorsOf(readFileSync(path, 'utf8'));
      anchorCache.set(path, anchors);
    }
    return anchors;
  };
  return files.flatMap((file) => {
    const absolute = resolve(root, file);
    return relativeLinksOf(readFileSync(absolute, 'utf8')).flatMap(({ line, target }) => {
      const reason = brokenBecause(root, absolute, target, anchorsIn);
      return reason === undefined ? [] : [{ file, line, target, reason }];
    });
  });
}

/** Why one relative link does not resolve, or undefined when it does. */
function brokenBecause(root: string, from: string, target: string, anchorsIn: (path: string) => Set<string>): string | undefined {
  const hash = target.indexOf('#');
  const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
  const anchor = hash === -1 ? '' : decodeURIComponent(target.slice(hash + 1));
  const linked = pathPart === '' ? from : resolve(dirname(from), pathPart);
  const inRepo = relative(root, linked);
  // GitHub serves only what is in the repository: a link that climbs out of it is dead there.
  if (inRepo.startsWith('..') || inRepo.startsWith(sep)) return 'points outside the repository';
  if (!existsSync(linked)) return `no such file: ${inRepo}`;
  if (anchor === '') return undefined;
  if (statSync(linked).isDirectory() || !linked.endsWith('.md')) return `an anchor into ${inRepo}, which is not a markdown file`;
  return anchorsIn(linked).has(anchor) ? undefined : `no heading with anchor #${anchor} in ${inRepo}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const problems = checkDocLinks(root);
  for (const p of problems) console.error(`${p.file}:${p.line}: ${p.target}: ${p.reason}`);
  console.error(problems.length === 0 ? 'doc links: all resolve' : `doc links: ${problems.length} broken`);
  process.exit(problems.length === 0 ? 0 : 1);
}
