import { Observable, Subject } from 'rxjs';
import type { InboundMessage } from '../inbound-message.js';
import type { Redis } from './connection.js';
import { fieldOf, nextId, RawEntries, replyOf, untilCapacity } from './stream-entries.js';

export interface RedisStreamRangeSourceOptions {
  readonly redis: Redis;
  readonly stream: string;
  readonly field: string;
  /** First id to read (inclusive), `-` for the start of the stream. */
  readonly from: string;
  /** Last id to read (inclusive), `+` for the end of the stream as it is when reading reaches it. */
  readonly to: string;
  readonly capacity: () => number;
  readonly capacity$: Observable<unknown>;
  /** Entries per XRANGE at most. */
  readonly pageSize?: number;
}

/**
 * Reads a range of a stream, oldest first, without a consumer group and without changing anything:
 * for backfill. Each page is as large as the credit allows; it completes at the end of the range.
 * Nothing is acknowledged (there is no group), so `ack` is absent.
 */
export const redisStreamRangeSource = ({
  redis,
  stream,
  field,
  from,
  to,
  capacity,
  capacity$,
  pageSize = 1000,
}: RedisStreamRangeSourceOptions): Observable<InboundMessage> =>
  new Observable<InboundMessage>((subscriber) => {
    const stop$ = new Subject<void>();
    let stopped = false;

    const run = async (): Promise<void> => {
      let start = from;
      while (!stopped) {
        await untilCapacity(capacity, capacity$, stop$);
        if (stopped) return;
        const count = Math.min(pageSize, Math.max(1, capacity()));
        const entries = replyOf(RawEntries, await redis.xrange(stream, start, to, 'COUNT', count), 'XRANGE');
        for (const [id, fields] of entries) {
          if (stopped) return;
          subscriber.next({ data: fieldOf(fields, field), position: id });
        }
        if (entries.length < count) break;
        start = nextId(entries[entries.length - 1]![0]);
      }
      if (!stopped) subscriber.complete();
    };

    run().catch((error: unknown) => {
      if (!stopped) subscriber.error(error);
    });
    return () => {
      stopped = true;
      stop$.next();
    };
  });

/** Where a range of a stream begins and ends (entry ids; undefined when empty) and, for a whole stream, its size. */
export interface StreamRange {
  readonly first: string | undefined;
  readonly last: string | undefined;
  readonly total: number | undefined;
}

/** The range `from`..`to` of `stream`: its first and last ids, and its length when it is the whole stream. */
export const streamRange = async (redis: Redis, stream: string, from: string, to: string): Promise<StreamRange> => {
  const [first] = replyOf(RawEntries, await redis.xrange(stream, from, to, 'COUNT', 1), 'XRANGE');
  const [last] = replyOf(RawEntries, await redis.xrevrange(stream, to, from, 'COUNT', 1), 'XREVRANGE');
  const total = from === '-' && to === '+' ? await redis.xlen(stream) : undefined;
  return { first: first?.[0], last: last?.[0], total };
};
