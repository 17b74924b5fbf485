import * as t from 'io-ts';
import { filter, firstValueFrom, race, timer, type Observable } from 'rxjs';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import { isLeft } from 'fp-ts/lib/Either.js';
import { parseJson } from '../../operators/model/json.js';
import type { Redis } from './connection.js';
import type { LineTurn } from './turn-book.js';

/**
 * A stream entry as Redis returns it: `[id, [field, value, field, value, ...]]`; the fields are nil
 * for a pending entry deleted since it was read. Replies are decoded, not cast: a Redis (or a proxy)
 * that answers otherwise is an error that names the command, not a crash somewhere later.
 */
export const RawEntry = t.tuple([t.string, t.union([t.array(t.string), t.null])], 'stream entry');
export type RawEntry = t.TypeOf<typeof RawEntry>;
export const RawEntries = t.array(RawEntry, 'stream entries');

/** XREADGROUP: nil when nothing came, else one `[stream, entries]` per stream read. */
const ReadGroupReply = t.union([t.null, t.array(t.tuple([t.string, RawEntries]))]);

/** XAUTOCLAIM: `[next cursor, entries]` (Redis 7 adds the ids deleted meanwhile; not needed here). */
export const AutoClaimReply = t.tuple([t.string, RawEntries]);

/** XPENDING with a range: `[id, consumer, idle ms, times delivered]` per entry. */
export const PendingRows = t.array(t.tuple([t.string, t.string, t.number, t.number]));

/** XINFO CONSUMERS: one flat `[name, value, name, value, ...]` list per consumer. */
export const ConsumerInfos = t.array(t.array(t.union([t.string, t.number])));

/** A Redis reply decoded by `codec`, or an error naming the command that answered it. */
export const replyOf = <A>(codec: t.Type<A, unknown>, reply: unknown, command: string): A =>
  decodeOrThrow(codec, reply, `the reply to ${command}`);

/** The value of `field` in an entry, or undefined when the entry has no such field (or no fields at all). */
export const fieldOf = (fields: readonly string[] | null, field: string): string | undefined => {
  if (fields === null) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === field) return fields[i + 1];
  return undefined;
};

/** The id right after `id` (`5-3` -> `5-4`): an exclusive start for XRANGE, or a MINID that keeps later entries. */
export const nextId = (id: string): string => {
  const [ms, seq] = id.split('-');
  return `${ms}-${BigInt(seq ?? '0') + 1n}`;
};

/** Milliseconds of a stream id. */
export const idTime = (id: string): number => Number(id.split('-')[0]);

/** Resolves once `capacity()` is above 0 (checked whenever `capacity$` emits), or when `stop$` emits. */
export const untilCapacity = async (
  capacity: () => number,
  capacity$: Observable<unknown>,
  stop$: Observable<unknown>,
): Promise<void> => {
  if (capacity() > 0) return;
  await firstValueFrom(race(capacity$.pipe(filter(() => capacity() > 0)), stop$), { defaultValue: undefined });
};

/** Where a consumer reads: the stream, its group and the consumer's own name in it. */
export interface GroupReader {
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
}

/**
 * XREADGROUP of up to `count` entries: new ones (`after` is `>`), waiting up to `blockMs` for one, or the
 * consumer's own pending ones after `after` (which never blocks: pending entries are there or not).
 */
export const readGroup = async (
  reader: Redis,
  { stream, group, consumer }: GroupReader,
  after: string,
  count: number,
  blockMs: number,
): Promise<RawEntry[]> => {
  const reply = replyOf(
    ReadGroupReply,
    after === '>'
      ? await reader.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', stream, '>')
      : await reader.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, after),
    'XREADGROUP',
  );
  return reply?.[0]?.[1] ?? [];
};

/** Resolves after `ms`, or as soon as `stop$` emits (a source that stops does not sit out its backoff). */
export const sleepUnless = (ms: number, stop$: Observable<unknown>): Promise<unknown> =>
  firstValueFrom(race(timer(ms), stop$), { defaultValue: undefined });

export type Turns = ReadonlyArray<LineTurn | null>;

/** `turns` as the journal writes it: a JSON list of `[key, seq]` or null, one per profile. */
export const TurnsField = t.array(t.union([t.null, t.tuple([t.string, t.number])]));

/** An entry's turns, or undefined when it has none (or they cannot be read: then it waits for nobody). */
export const turnsOf = (fields: readonly string[] | null): Turns | undefined => {
  const raw = fieldOf(fields, 'turns');
  if (raw === undefined) return undefined;
  const decoded = TurnsField.decode(parseJson(raw));
  return isLeft(decoded) ? undefined : decoded.right.map((turn) => (turn ? { key: turn[0], seq: turn[1] } : null));
};
