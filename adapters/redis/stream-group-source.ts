import { Observable, firstValueFrom, race, Subject, timer, type Subscription } from 'rxjs';
import type { InboundMessage } from '../inbound-message.js';
import type { Redis } from './connection.js';
import { fieldOf, untilCapacity, type RawEntry } from './stream-entries.js';

export type StreamSourceEvent =
  | { readonly type: 'group-created'; readonly stream: string; readonly group: string; readonly startId: string }
  | { readonly type: 'claimed'; readonly count: number }
  | { readonly type: 'error'; readonly error: Error };

export interface RedisStreamGroupSourceOptions {
  /** The shared (autopipelined) connection: XACK, XAUTOCLAIM, XCLAIM. Reads block on a duplicate of it. */
  readonly redis: Redis;
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  /** The entry field holding the update's JSON. */
  readonly field: string;
  /** Where a new group starts: `$` (entries added from now on) or `0` (the whole stream). */
  readonly startId: string;
  /** How many more entries may be taken now (the pipeline's credit, 0 while its intake is closed). */
  readonly capacity: () => number;
  /** Emits whenever `capacity` may have grown. */
  readonly capacity$: Observable<unknown>;
  readonly blockMs?: number;
  /** Entries another consumer left pending this long are claimed. */
  readonly claimIdleMs?: number;
  readonly onEvent?: (event: StreamSourceEvent) => void;
}

const messageOf = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/**
 * Reads a Redis stream as one consumer of a consumer group: at-least-once. An entry is acknowledged
 * (XACK) only once its envelope's outcome is final; until then it stays pending in the group.
 *
 * - Reads take at most `capacity()` entries (XREADGROUP COUNT), and none while it is 0.
 * - On start it first takes back its own pending entries (a restart under the same consumer name).
 * - On start and every half `claimIdleMs`, entries other consumers left pending longer than
 *   `claimIdleMs` are claimed (XAUTOCLAIM): a crashed consumer's work is finished by the others.
 * - Its own entries in flight are re-claimed every third of `claimIdleMs` (XCLAIM JUSTID), which
 *   resets their idle time, so a slow destination does not make others claim them.
 */
export const redisStreamGroupSource = (options: RedisStreamGroupSourceOptions): Observable<InboundMessage> =>
  new Observable<InboundMessage>((subscriber) => {
    const { redis, stream, group, consumer, field, startId, capacity, capacity$, blockMs = 1000, claimIdleMs = 60_000, onEvent = () => {} } = options;
    const reader = redis.duplicate();
    const inFlight = new Set<string>();
    const stop$ = new Subject<void>();
    let stopped = false;
    const timers: Subscription[] = [];

    /**
     * Entries a read returned after the stop: never seen by the pipeline, so nothing was done with
     * them. Marking them long idle lets the next consumer claim them at once, not after claimIdleMs.
     */
    const release = (ids: readonly string[]): void => {
      if (ids.length === 0) return;
      redis.xclaim(stream, group, consumer, 0, ...ids, 'IDLE', claimIdleMs * 1000, 'JUSTID').catch(() => {});
    };

    const emit = (entries: readonly RawEntry[] | null | undefined): number => {
      let taken = 0;
      if (stopped) {
        release((entries ?? []).map(([id]) => id).filter((id) => !inFlight.has(id)));
        return 0;
      }
      for (const [id, fields] of entries ?? []) {
        // An entry this process already holds (re-claimed, or read again) is not taken twice.
        if (inFlight.has(id)) continue;
        inFlight.add(id);
        taken += 1;
        subscriber.next({
          data: fields === null ? undefined : fieldOf(fields, field),
          position: id,
          ack: () => {
            inFlight.delete(id);
            redis.xack(stream, group, id).catch((error: unknown) => onEvent({ type: 'error', error: messageOf(error) }));
          },
        });
      }
      return taken;
    };

    const ensureGroup = async (): Promise<void> => {
      try {
        await redis.xgroup('CREATE', stream, group, startId, 'MKSTREAM');
        onEvent({ type: 'group-created', stream, group, startId });
      } catch (error) {
        if (!String((error as Error).message).startsWith('BUSYGROUP')) throw error;
      }
    };

    const waitForCapacity = (): Promise<void> => untilCapacity(capacity, capacity$, stop$);

    const readNew = async (): Promise<void> => {
      const reply = (await reader.xreadgroup('GROUP', group, consumer, 'COUNT', Math.max(1, capacity()), 'BLOCK', blockMs, 'STREAMS', stream, '>')) as Array<
        [string, RawEntry[]]
      > | null;
      emit(reply?.[0]?.[1]);
    };

    /** Entries this consumer name read before a restart and never acknowledged, oldest first. */
    const readOwnPending = async (): Promise<void> => {
      let after = '0';
      while (!stopped) {
        await waitForCapacity();
        const reply = (await reader.xreadgroup('GROUP', group, consumer, 'COUNT', Math.max(1, capacity()), 'STREAMS', stream, after)) as Array<
          [string, RawEntry[]]
        > | null;
        const entries = reply?.[0]?.[1] ?? [];
        if (entries.length === 0) return;
        emit(entries);
        after = entries[entries.length - 1]![0];
      }
    };

    const claim = async (): Promise<void> => {
      let cursor = '0-0';
      let claimed = 0;
      do {
        const count = capacity();
        if (count <= 0) break;
        const [next, entries] = (await redis.xautoclaim(stream, group, consumer, claimIdleMs, cursor, 'COUNT', count)) as [string, RawEntry[]];
        claimed += emit(entries);
        cursor = next;
      } while (cursor !== '0-0' && !stopped);
      if (claimed > 0) onEvent({ type: 'claimed', count: claimed });
    };

    const keepOwnEntries = async (): Promise<void> => {
      const ids = [...inFlight];
      for (let i = 0; i < ids.length; i += 1000) await redis.xclaim(stream, group, consumer, 0, ...ids.slice(i, i + 1000), 'JUSTID');
    };

    const guarded = (work: () => Promise<void>) => () => {
      if (!stopped) work().catch((error: unknown) => onEvent({ type: 'error', error: messageOf(error) }));
    };

    const run = async (): Promise<void> => {
      await ensureGroup();
      await readOwnPending();
      await claim();
      timers.push(timer(claimIdleMs / 2, claimIdleMs / 2).subscribe(guarded(claim)));
      timers.push(timer(claimIdleMs / 3, claimIdleMs / 3).subscribe(guarded(keepOwnEntries)));
      while (!stopped) {
        await waitForCapacity();
        if (stopped) break;
        try {
          await readNew();
        } catch (error) {
          if (stopped) break;
          onEvent({ type: 'error', error: messageOf(error) });
          // The stream or the group was deleted under us: make them again rather than fail forever.
          if (String((error as Error).message).startsWith('NOGROUP')) await ensureGroup().catch(() => {});
          await firstValueFrom(race(timer(1000), stop$), { defaultValue: undefined });
        }
      }
    };

    run().catch((error: unknown) => {
      if (!stopped) subscriber.error(messageOf(error));
    });

    return () => {
      stopped = true;
      stop$.next();
      for (const t of timers) t.unsubscribe();
      // QUIT waits for a read in flight (at most blockMs), so its entries are not lost in transit: they
      // reach `emit`, which releases them.
      reader.quit().catch(() => reader.disconnect());
    };
  });
