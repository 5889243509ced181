import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const alerts = readFileSync(new URL('../../../ops/prometheus-alerts.yml', import.meta.url), 'utf8');
const runbook = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
const alertNames = [...alerts.matchAll(/^\s*- alert:\s*(\w+)/gm)].map((m) => m[1]!);

/** The text of a `### name` section of the runbook, up to the next heading of level 2 or 3. */
function section(name: string): string | undefined {
  const start = runbook.indexOf(`\n### ${name}\n`);
  if (start === -1) return undefined;
  const rest = runbook.slice(start + name.length + 6);
  const end = rest.search(/\n#{2,3} /);
  return end === -1 ? rest : rest.slice(0, end);
}

describe('the operations runbook', () => {
  it('reads the alerts file (so the next test cannot pass on an empty list)', () => {
    expect(alertNames.length).toBeGreaterThanOrEqual(10);
  });

  it.each(alertNames)('explains %s: what it means and what to do', (name) => {
    const text = section(name);
    expect(text, `docs/operations.md has no "### ${name}" section`).toBeDefined();
    expect(text).toContain('**Means:**');
    expect(text).toContain('**Do:**');
  });
});
