import { parseJson } from '../../operators/model/json.js';
import type { FlowForgotten } from '../forgotten.js';
import { keysFor, type Redis } from './connection.js';
import { nextId, RawEntries, replyOf, turnsOf } from './stream-entries.js';

const NONE: FlowForgotten = { dedupeMarks: 0, deliveryLog: 0, historyRows: 0 };

/**
 * Removes what one flow's Redis keys hold about the people named `names` (keyed hashes of their
 * identities): dedupe marks, delivery-log entries (position, audiences, withdrawals, the flow's record
 * of their line) and run-history rows. Key names that can be computed are deleted directly; dedupe
 * marks (named by a payload's fingerprint too) by one SCAN of the flow's marks for all of them, and
 * history rows by one read of the list. Then notes when each was forgotten (Redis' clock, the clock
 * stream ids come from), so a replay of updates received before it does not send them again
 * (`forgottenAt`). Answers what was removed, per name.
 */
export const forgetInFlow = async (
  redis: Redis,
  prefix: string,
  names: readonly string[],
): Promise<Map<string, FlowForgotten>> => {
  const keys = keysFor(prefix);
  const removed = new Map<string, { dedupeMarks: number; deliveryLog: number; historyRows: number }>(
    names.map((name) => [name, { ...NONE }]),
  );
  if (names.length === 0) return removed;
  // `<prefix>:sent:<name>:<fingerprint>`: the name is base64url (no colon).
  const marks = `${keys.sent('')}`;
  const pattern = `${marks.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    const mine = found.filter((key) => removed.has(key.slice(marks.length, key.indexOf(':', marks.length))));
    for (const key of mine) {
      const count = await redis.unlink(key);
      removed.get(key.slice(marks.length, key.indexOf(':', marks.length)))!.dedupeMarks += count;
    }
  } while (cursor !== '0');
  for (const name of names)
    removed.get(name)!.deliveryLog += await redis.del(
      keys.last(name),
      keys.audiencesIn(name),
      keys.withdrawals(name),
      `${prefix}:done:${name}`,
    );
  for (const row of await redis.lrange(keys.history, 0, -1)) {
    const person = (parseJson(row) as { person?: unknown } | undefined)?.person;
    const entry = typeof person === 'string' ? removed.get(person) : undefined;
    if (entry) entry.historyRows += await redis.lrem(keys.history, 0, row);
  }
  const [seconds, micros] = await redis.time();
  const now = String(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000));
  for (const name of names) await redis.set(keys.forgotten(name), now);
  return removed;
};

/** What the journal held of a person. */
export interface JournalForgotten {
  readonly removed: number;
  /** Entries that also hold other people's profiles (one message, several profiles): kept for them. */
  readonly keptShared: number;
  /** Entries removed, by the name of each person they held. */
  readonly byName: ReadonlyMap<string, number>;
}

/**
 * Removes the journal entries of the people named `names` (their `turns` name them): those not yet
 * processed, and, in a journal kept whole for replays, those processed too. Each is acknowledged for
 * every group first, so no consumer claims it again. An entry that also holds the profiles of people
 * not being forgotten is kept for them (and counted). Their lines go with them. One pass over the
 * journal, in batches, for all of them: a rare, deliberate command may read it all.
 */
export const forgetInJournal = async (
  redis: Redis,
  { stream, linePrefix, groups }: { stream: string; linePrefix: string; groups: readonly string[] },
  names: ReadonlySet<string>,
): Promise<JournalForgotten> => {
  let removed = 0;
  let keptShared = 0;
  const byName = new Map<string, number>();
  let from = '-';
  for (;;) {
    const entries = replyOf(RawEntries, await redis.xrange(stream, from, '+', 'COUNT', 500), 'XRANGE');
    for (const [id, fields] of entries) {
      const turns = (turnsOf(fields) ?? []).filter((turn) => turn !== null);
      if (!turns.some((turn) => names.has(turn.key))) continue;
      if (turns.some((turn) => !names.has(turn.key))) {
        keptShared += 1;
        continue;
      }
      for (const group of groups) await redis.xack(stream, group, id).catch(() => 0);
      const deleted = await redis.xdel(stream, id);
      removed += deleted;
      for (const key of new Set(turns.map((turn) => turn.key))) byName.set(key, (byName.get(key) ?? 0) + deleted);
    }
    if (entries.length < 500) break;
    from = nextId(entries.at(-1)![0]);
  }
  for (const name of names) await redis.del(`${linePrefix}${name}`);
  return { removed, keptShared, byName };
};
