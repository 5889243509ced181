import { describe, expect, it } from 'vitest';
import { parseIdsFile } from '../../../src/rebuild/parseIdsFile.ts';
import { rebuildExitCode } from '../../../src/rebuild/rebuildExitCode.ts';
import type { RebuildReport } from '../../../src/rebuild/rebuildTypes.ts';

describe('rebuild --ids-from', () => {
  it('reads <type>/<id> lines and bare ids (for each bare type), skipping blanks and comments', () => {
    expect(parseIdsFile('# lost in the restore\ntransaction/a1\n\n  invoice/inv-9  \nb2\r\n', ['transaction', 'operation'])).toEqual([
      { aggregateType: 'transaction', aggregateId: 'a1' },
      { aggregateType: 'invoice', aggregateId: 'inv-9' },
      { aggregateType: 'transaction', aggregateId: 'b2' },
      { aggregateType: 'operation', aggregateId: 'b2' },
    ]);
  });

  it('names the line of anything else', () => {
    expect(() => parseIdsFile('transaction/a\ntransaction/\n', ['transaction'])).toThrow(/line 2: no id after the type/);
    expect(() => parseIdsFile('two words\n', ['transaction'])).toThrow(/line 1: expected <type>\/<id> or an id/);
  });
});

describe('rebuild exit code', () => {
  const report = (patch: Partial<RebuildReport>): RebuildReport =>
    ({ status: 'complete', seconds: 1, notRebuildable: 0, runId: 1, done: 1, total: 1, resumedAt: 0, written: 1, handedToRelays: 0, failed: 0, aggregateType: null, ratePerSecond: 1, etaSeconds: 0, ...patch }) as RebuildReport;
  it('0 all done, 1 done with entities it could not re-project, 2 stopped or could not run', () => {
    expect(rebuildExitCode({ report: report({}) })).toBe(0);
    expect(rebuildExitCode({ report: report({ failed: 1 }) })).toBe(1);
    expect(rebuildExitCode({ report: report({ notRebuildable: 3 }) })).toBe(1);
    expect(rebuildExitCode({ report: report({ status: 'stopped' }) })).toBe(2);
    expect(rebuildExitCode({ error: new Error('down') })).toBe(2);
  });
});
