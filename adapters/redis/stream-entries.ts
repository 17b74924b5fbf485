import { filter, firstValueFrom, race, type Observable } from 'rxjs';
import type { Redis } from './connection.js';

/** A stream entry as ioredis returns it: `[id, [field, value, field, value, ...]]`. */
export type RawEntry = [id: string, fields: string[]];

/** The value of `field` in an entry, or undefined when the entry has no such field. */
export const fieldOf = (fields: readonly string[], field: string): string | undefined => {
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
export const untilCapacity = async (capacity: () => number, capacity$: Observable<unknown>, stop$: Observable<unknown>): Promise<void> => {
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
  const reply = (
    after === '>'
      ? await reader.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', stream, '>')
      : await reader.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, after)
  ) as Array<[string, RawEntry[]]> | null;
  return reply?.[0]?.[1] ?? [];
};
