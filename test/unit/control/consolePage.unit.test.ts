import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConsolePage } from '../../../src/control/consolePage.ts';

describe('the console page', () => {
  const page = loadConsolePage();

  it('is self-contained and small: no URL to any other origin, under 16 KiB', () => {
    expect(Buffer.byteLength(page.html)).toBeLessThan(16 * 1024);
    // Only the SVG namespace (an identifier, never fetched) may look like a URL.
    const urls = page.html.match(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"')]*/gi) ?? [];
    expect(urls.filter((u) => u !== 'http://www.w3.org/2000/svg')).toEqual([]);
    // Nothing the browser would fetch: every src/href in the markup is a data: URL.
    const markup = page.html.replace(/<script>[\s\S]*?<\/script>/, '');
    const references = [...markup.matchAll(/\b(?:src|href)\s*=\s*["']?([^"'\s>]*)/gi)].map((m) => m[1]);
    expect(references.every((r) => r?.startsWith('data:'))).toBe(true);
  });

  it('is served with a CSP that allows exactly its own inline script and style', () => {
    const csp = page.headers['content-security-policy']!;
    const script = /<script>([\s\S]*?)<\/script>/.exec(page.html)![1]!;
    const style = /<style>([\s\S]*?)<\/style>/.exec(page.html)![1]!;
    const hash = (text: string) => createHash('sha256').update(text).digest('base64');
    expect(csp).toContain(`script-src 'sha256-${hash(script)}'`);
    expect(csp).toContain(`style-src 'sha256-${hash(style)}'`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/unsafe-(inline|eval)/);
  });

  it('never parses data as HTML: no innerHTML, outerHTML, insertAdjacentHTML or document.write', () => {
    expect(page.html).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});
