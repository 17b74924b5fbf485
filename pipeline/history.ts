import * as t from 'io-ts';
import { struct } from '../operators/model/codecs.js';
import type { Settlement } from '../operators/model/ledger.js';
import { maskIdentity } from './mask.js';

/** One line of the run history: what became of one update. Decoded when read back from a store. */
export const RunEntry = struct(
  'RunEntry',
  {
    at: t.string,
    outcome: t.keyof({ delivered: null, excluded: null, duplicate: null, failed: null }),
    source: t.string,
    position: t.string,
  },
  {
    /** `Email:a***@example.com`: masked, so the history can be shown and shared. */
    identity: t.string,
    reason: t.string,
    attempts: t.number,
    httpStatus: t.number,
    /** From receipt to outcome. */
    latencyMs: t.number,
    /** Updates this entry stands for (more than one: the `not-qualified` of one batch, the last shown). */
    count: t.number,
  },
  { open: true },
);
export type RunEntry = t.TypeOf<typeof RunEntry>;

export interface HistoryStore {
  readonly size: number;
  add(entry: RunEntry): void | Promise<void>;
  /** Several entries, oldest first, in one write. */
  addAll(entries: readonly RunEntry[]): void | Promise<void>;
  /** Newest first. */
  list(): RunEntry[] | Promise<RunEntry[]>;
}

export const runEntryOf = ({ outcome, origin, identity, receivedAt, at }: Settlement): RunEntry => {
  const who = maskIdentity(identity);
  return {
    at: new Date(at).toISOString(),
    ...(who === undefined ? {} : { identity: who }),
    outcome: outcome.kind,
    ...('reason' in outcome ? { reason: outcome.reason } : {}),
    ...('attempts' in outcome && outcome.attempts !== undefined ? { attempts: outcome.attempts } : {}),
    ...('status' in outcome && outcome.status !== undefined ? { httpStatus: outcome.status } : {}),
    ...(receivedAt === undefined ? {} : { latencyMs: at - receivedAt }),
    source: origin.source,
    position: origin.position,
  };
};

/** Newest first, only failures when asked, at most `limit`. */
export const selectRuns = (
  entries: readonly RunEntry[],
  { failed = false, limit = 100 }: { failed?: boolean; limit?: number },
): RunEntry[] => entries.filter((entry) => !failed || entry.outcome === 'failed').slice(0, limit);

/** The history as a table for a terminal. */
export const formatRuns = (entries: readonly RunEntry[]): string => {
  if (entries.length === 0) return 'no runs recorded\n';
  const rows = entries.map((e) => [
    e.at,
    e.outcome + (e.reason ? ` ${e.reason}` : '') + (e.count === undefined ? '' : ` x${e.count}`),
    e.httpStatus === undefined ? '' : String(e.httpStatus),
    e.attempts === undefined ? '' : String(e.attempts),
    e.latencyMs === undefined ? '' : `${e.latencyMs} ms`,
    e.identity ?? '',
    e.position,
  ]);
  const header = ['time', 'outcome', 'http', 'attempts', 'latency', 'identity', 'position'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
};
