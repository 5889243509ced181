import cliProgress from 'cli-progress';
import type { RebuildProgress } from './rebuildTypes.ts';

/**
 * The terminal progress bar: cli-progress (rate, ETA, redraw throttling and
 * terminal handling are its job, not ours), on stderr so stdout stays for
 * the summary. Our own rate and ETA (entities/s since this process started,
 * not since the run started) are shown instead of the library's, which
 * would count a resumed run's earlier work as done in no time (its built-in
 * {eta} placeholder wins over a payload key of that name, hence {left}).
 */
export function createProgressBar(stream: NodeJS.WriteStream = process.stderr): { update(progress: RebuildProgress): void; stop(): void } {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: 'rebuild |{bar}| {percentage}% {value}/{total} entities | {type} | {rate}/s | ETA {left}',
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(progress) {
      const payload = { type: progress.aggregateType ?? '-', rate: progress.ratePerSecond.toFixed(0), left: formatSeconds(progress.etaSeconds) };
      const total = Math.max(progress.total, progress.done);
      if (!started) {
        bar.start(total, progress.done, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(progress.done, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

function formatSeconds(seconds: number | null): string {
  if (seconds === null) return '…';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
