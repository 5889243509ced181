import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface ConsolePage {
  html: string;
  headers: Record<string, string>;
}

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * The web console: one self-contained HTML file (inline style and script,
 * no CDN, works offline). Served with a Content-Security-Policy that allows
 * exactly its own inline script and style (by hash) and requests to this
 * origin only: defence in depth behind the page's escaping, so even markup
 * smuggled into the DOM could neither run script nor load anything.
 */
export function loadConsolePage(): ConsolePage {
  const html = readFileSync(new URL('./console.html', import.meta.url), 'utf8');
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1];
  const style = /<style>([\s\S]*?)<\/style>/.exec(html)?.[1];
  if (script === undefined || style === undefined) throw new Error('console.html must have one inline <script> and one <style>');
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(script)}`,
    `style-src ${sha256(style)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, headers: { 'content-security-policy': csp, 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' } };
}
