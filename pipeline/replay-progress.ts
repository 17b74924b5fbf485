import { totalOf } from '../operators/model/ledger.js';
import cliProgress from 'cli-progress';
import type { ReplayProgress } from './replay.js';

const eta = (seconds: number | undefined): string => {
  if (seconds === undefined || !Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${s}s`;
};

/** The numbers of a progress report, as the bar and the plain lines show them. */
export const progressFields = (p: ReplayProgress) => ({
  read: p.read,
  delivered: p.counts.delivered,
  excluded: totalOf(p.counts.excluded),
  duplicates: p.counts.duplicate,
  failed: totalOf(p.counts.failed),
  rate: p.rate.toFixed(0),
  eta: eta(p.etaSeconds),
  at: p.lastId ?? '-',
});

/** One plain progress line, for logs and pipes. */
export const progressLine = (p: ReplayProgress): string => {
  const f = progressFields(p);
  return (
    `replay ${(p.fraction * 100).toFixed(1)}%: read ${f.read}, delivered ${f.delivered}, excluded ` +
    `${f.excluded}, duplicates ${f.duplicates}, failed ${f.failed}, ${f.rate}/s, ETA ${f.eta}, at ${f.at}`
  );
};

export interface ProgressDisplay {
  note(text: string): void;
  stop(final: ReplayProgress): void;
}

/**
 * Shows a replay's progress on `out`: a live bar on a terminal, a plain line every `lineEveryMs`
 * otherwise (a pipe, a log file, CI).
 */
export const showProgress = (
  out: NodeJS.WriteStream,
  progress: () => ReplayProgress,
  lineEveryMs = 5000,
): ProgressDisplay => {
  if (!out.isTTY) {
    const timer = setInterval(() => out.write(`${progressLine(progress())}\n`), lineEveryMs);
    return {
      note: (text) => out.write(`${text}\n`),
      stop: (final) => {
        clearInterval(timer);
        out.write(`${progressLine(final)}\n`);
      },
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: out,
      format:
        '{bar} {percentage}% | read {read} | delivered {delivered} | excluded {excluded} | duplicates ' +
        '{duplicates} | failed {failed} | {rate}/s | ETA {eta}',
      hideCursor: true,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(1000, 0, progressFields(progress()));
  const timer = setInterval(() => {
    const p = progress();
    bar.update(Math.round(p.fraction * 1000), progressFields(p));
  }, 200);
  return {
    note: (text) => out.write(`\n${text}\n`),
    stop: (final) => {
      clearInterval(timer);
      bar.update(Math.round(final.fraction * 1000), progressFields(final));
      bar.stop();
    },
  };
};
