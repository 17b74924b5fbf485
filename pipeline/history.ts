import * as t from 'io-ts';
import { struct } from '../operators/model/codecs.js';
import type { Settlement } from '../operators/model/ledger.js';
import { maskIdentity } from './mask.js';
import { formatTable } from './table.js';
import { identityKey } from '../operators/model/envelope.js';
import { copyWith } from '../operators/model/copy-with.js';

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
    /** The person, as a keyed hash of their identity (as Redis keys name them): what `forget` looks for. */
    person: t.string,
  },
  { open: true },
);
export type RunEntry = t.TypeOf<typeof RunEntry>;

/** One line of the run history that is a person's action (from the console), not an update's outcome. */
export const ActionEntry = struct('ActionEntry', {
  at: t.string,
  /** `pause`, `resume`, `enable`, `disable`, `redrive`, `discard`. */
  action: t.string,
  /** The access token's name, or `loopback` without `access`. */
  by: t.string,
  /** What it did, for a person reading the history. */
  detail: t.string,
});
export type ActionEntry = t.TypeOf<typeof ActionEntry>;

/** What the run history holds: outcomes, and the actions that were taken on the flow. */
export const HistoryLine = t.union([RunEntry, ActionEntry]);
export type HistoryLine = t.TypeOf<typeof HistoryLine>;

export const isRun = (line: HistoryLine): line is RunEntry => 'outcome' in line;

export interface HistoryStore {
  readonly size: number;
  add(entry: HistoryLine): void | Promise<void>;
  /** Several entries, oldest first, in one write. */
  addAll(entries: readonly HistoryLine[]): void | Promise<void>;
  /** Newest first. */
  list(): HistoryLine[] | Promise<HistoryLine[]>;
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

/** A run entry naming its person by `nameOf` (the keyed hash of the identity), so `forget` can find it. */
export const namedRunEntryOf = async (
  settlement: Settlement,
  nameOf: ((identityKey: string) => Promise<string>) | undefined,
): Promise<RunEntry> => {
  const entry = runEntryOf(settlement);
  const { identity } = settlement;
  return nameOf && identity ? copyWith(entry, { person: await nameOf(identityKey(identity)) }) : entry;
};

/** Newest first, only failures when asked (actions then left out), at most `limit`. */
export const selectRuns = <L extends HistoryLine>(
  entries: readonly L[],
  { failed = false, limit = 100 }: { failed?: boolean; limit?: number },
): L[] => entries.filter((entry) => !failed || (isRun(entry) && entry.outcome === 'failed')).slice(0, limit);

const runRow = (e: RunEntry): string[] => [
  e.at,
  e.outcome + (e.reason ? ` ${e.reason}` : '') + (e.count === undefined ? '' : ` x${e.count}`),
  e.httpStatus === undefined ? '' : String(e.httpStatus),
  e.attempts === undefined ? '' : String(e.attempts),
  e.latencyMs === undefined ? '' : `${e.latencyMs} ms`,
  e.identity ?? '',
  e.position,
];

/** The history as a table for a terminal. */
export const formatRuns = (entries: readonly HistoryLine[]): string => {
  if (entries.length === 0) return 'no runs recorded\n';
  const rows = entries.map((e) =>
    isRun(e) ? runRow(e) : [e.at, `action ${e.action} by ${e.by}: ${e.detail}`, '', '', '', '', ''],
  );
  return formatTable(['time', 'outcome', 'http', 'attempts', 'latency', 'identity', 'position'], rows);
};
