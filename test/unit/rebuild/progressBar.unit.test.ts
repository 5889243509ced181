import { describe, expect, it } from 'vitest';
import { createProgressBar } from '../../../src/rebuild/progressBar.ts';
import type { RebuildProgress } from '../../../src/rebuild/rebuildTypes.ts';

/** Enough of a TTY write stream for cli-progress to draw on. */
function fakeTerminal(): NodeJS.WriteStream & { text: () => string } {
  let text = '';
  const stream = {
    isTTY: true,
    columns: 120,
    write: (chunk: string) => ((text += chunk), true),
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
    text: () => text,
  };
  return stream as unknown as NodeJS.WriteStream & { text: () => string };
}

const progress = (done: number, patch: Partial<RebuildProgress> = {}): RebuildProgress => ({
  runId: 1, done, total: 1000, resumedAt: 0, written: done, handedToRelays: 0, failed: 0, aggregateType: 'transaction', ratePerSecond: 250, etaSeconds: (1000 - done) / 250, ...patch,
});

describe('rebuild progress bar', () => {
  it('draws done/total, the type, our rate and ETA on the terminal', () => {
    const terminal = fakeTerminal();
    const bar = createProgressBar(terminal);
    bar.update(progress(0, { ratePerSecond: 0, etaSeconds: null }));
    bar.update(progress(500));
    bar.stop();
    expect(terminal.text()).toMatch(/500\/1000 entities \| transaction \| 250\/s \| ETA 2s/);
    expect(terminal.text()).toMatch(/50%/);
  });

  it('formats long ETAs in minutes and hours, and grows the total when more entities turned up', () => {
    const draw = (...updates: RebuildProgress[]) => {
      const terminal = fakeTerminal();
      const bar = createProgressBar(terminal);
      for (const u of updates) bar.update(u);
      bar.stop(); // draws the last state (redraws in between are throttled)
      return terminal.text();
    };
    expect(draw(progress(10, { etaSeconds: 3725 }))).toMatch(/ETA 1h02m/);
    expect(draw(progress(10), progress(1200, { etaSeconds: 95 }))).toMatch(/1200\/1200 entities .* ETA 1m35s/);
  });
});
