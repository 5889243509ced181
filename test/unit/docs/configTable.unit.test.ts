import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_TABLE_DOC, committedConfigTable, renderConfigTable } from '../../../scripts/configTable.ts';
import { SETTINGS } from '../../../src/config.ts';

describe('the configuration table in docs/relay.md', () => {
  it('is the one src/config.ts generates (run `node scripts/configTable.ts --write` after changing a setting)', () => {
    expect(committedConfigTable(readFileSync(CONFIG_TABLE_DOC, 'utf8'))).toBe(renderConfigTable());
  });

  it('has a row for every setting, with its variable and flag', () => {
    const table = renderConfigTable();
    for (const s of Object.values(SETTINGS)) expect(table).toContain(`| \`${s.env}\` | \`${s.flag}\` |`);
  });

  it('is found only between both markers', () => {
    expect(committedConfigTable('no markers here')).toBeUndefined();
  });
});
