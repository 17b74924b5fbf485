import { parseJson } from '../../operators/model/json.js';
import type { FlowForgotten } from '../forgotten.js';
import { deleteKeys, keysFor, type Redis } from './connection.js';
import { nextId, RawEntries, replyOf, turnsOf } from './stream-entries.js';

/**
 * Removes what one flow's Redis keys hold about the person named `name` (the keyed hash of their
 * identity): dedupe marks, delivery-log entries (position, audiences, the flow's record of their line)
 * and run-history rows. Then notes when they were forgotten (Redis' clock, the clock stream ids come
 * from), so a replay of updates received before it does not send them again (`forgottenAt`).
 */
export const forgetInFlow = async (redis: Redis, prefix: string, name: string): Promise<FlowForgotten> => {
  const keys = keysFor(prefix);
  const dedupeMarks = await deleteKeys(redis, keys.sent(name));
  const deliveryLog = await redis.del(
    keys.last(name),
    keys.audiencesIn(name),
    keys.withdrawals(name),
    `${prefix}:done:${name}`,
  );
  let historyRows = 0;
  for (const row of await redis.lrange(keys.history, 0, -1)) {
    const entry = parseJson(row) as { person?: unknown } | undefined;
    if (entry?.person === name) historyRows += await redis.lrem(keys.history, 0, row);
  }
  const [seconds, micros] = await redis.time();
  await redis.set(keys.forgotten(name), String(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)));
  return { dedupeMarks, deliveryLog, historyRows };
};

/** What the journal held of a person. */
export interface JournalForgotten {
  readonly removed: number;
  /** Entries that also hold other people's profiles (one message, several profiles): kept for them. */
  readonly keptShared: number;
}

/**
 * Removes the journal entries of the person named `name` (their `turns` name them): those not yet
 * processed, and, in a journal kept whole for replays, those processed too. Each is acknowledged for
 * every group first, so no consumer claims it again. An entry that also holds other people's profiles
 * is kept for them (and counted). The person's line goes with them. Reads the journal in batches: a
 * rare, deliberate command may read it all.
 */
export const forgetInJournal = async (
  redis: Redis,
  { stream, linePrefix, groups }: { stream: string; linePrefix: string; groups: readonly string[] },
  name: string,
): Promise<JournalForgotten> => {
  let removed = 0;
  let keptShared = 0;
  let from = '-';
  for (;;) {
    const entries = replyOf(RawEntries, await redis.xrange(stream, from, '+', 'COUNT', 500), 'XRANGE');
    for (const [id, fields] of entries) {
      const turns = (turnsOf(fields) ?? []).filter((turn) => turn !== null);
      if (!turns.some((turn) => turn.key === name)) continue;
      if (turns.some((turn) => turn.key !== name)) {
        keptShared += 1;
        continue;
      }
      for (const group of groups) await redis.xack(stream, group, id).catch(() => 0);
      removed += await redis.xdel(stream, id);
    }
    if (entries.length < 500) break;
    from = nextId(entries.at(-1)![0]);
  }
  await redis.del(`${linePrefix}${name}`);
  return { removed, keptShared };
};
