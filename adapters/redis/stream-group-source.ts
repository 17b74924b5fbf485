import { messageOf } from '../../operators/model/errors.js';
import { Observable, Subject, timer, type Subscription } from 'rxjs';
import { backoffMs, STORE_OUTAGE_BACKOFF } from '../../operators/model/backoff.js';
import type { InboundMessage } from '../inbound-message.js';
import { requireStreamsVersion, type Redis } from './connection.js';
import type { RedisTurnBook } from './turn-book.js';
import { asError, isRedisOutage } from './errors.js';
import {
  AutoClaimReply,
  ConsumerInfos,
  fieldOf,
  PendingRows,
  readGroup,
  sleepUnless,
  replyOf,
  untilCapacity,
  turnsOf,
  type RawEntry,
  type Turns,
} from './stream-entries.js';

export type StreamSourceEvent =
  | { readonly type: 'group-created'; readonly stream: string; readonly group: string; readonly startId: string }
  | { readonly type: 'reading' }
  | { readonly type: 'claimed'; readonly count: number }
  | { readonly type: 'poison'; readonly id: string; readonly deliveries: number }
  | { readonly type: 'consumer-removed'; readonly consumer: string }
  | { readonly type: 'outage'; readonly error: Error; readonly retryInMs: number }
  | { readonly type: 'error'; readonly error: Error };

/** An entry handed out too often without an outcome: it is dead-lettered instead of handed out again. */
export interface PoisonEntry {
  readonly id: string;
  readonly data: string | undefined;
  readonly deliveries: number;
}

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
  /** An entry handed out more often than this without an outcome goes to `onPoison`. Default 5. */
  readonly maxDeliveries?: number;
  /** Stores a poison entry (the dead letters); the entry is acknowledged once this resolves. */
  readonly onPoison?: (entry: PoisonEntry) => Promise<void>;
  /** Consumers with nothing pending, idle this long, are removed from the group. Default one hour. */
  readonly forgetConsumersAfterMs?: number;
  /** Delete an entry once acknowledged (a journal whose size should follow what is pending). */
  readonly deleteAcknowledged?: boolean;
  /**
   * People's lines (a journal numbers each person's updates): entries' turns are finished in the same
   * step as their acknowledgement, and claims may also take the credit of updates waiting their turn,
   * so a crashed consumer's entries, which others wait for, are always claimed.
   */
  readonly turnBook?: RedisTurnBook;
  readonly onEvent?: (event: StreamSourceEvent) => void;
}

/** Waits after an outage: doubling from 250 ms to 5 s, so a Redis that comes back is used again soon. */

/**
 * Reads a Redis stream as one consumer of a consumer group: at-least-once. An entry is acknowledged
 * (XACK) only once its envelope's outcome is final; until then it stays pending in the group.
 *
 * - Reads take at most `capacity()` entries (XREADGROUP COUNT), and none while it is 0. Reads and
 *   claims run one after another in one loop, so together they never take more than the credit left.
 * - On start it first takes back its own pending entries (a restart under the same consumer name).
 * - On start and every half `claimIdleMs`, entries other consumers left pending longer than
 *   `claimIdleMs` are claimed (XAUTOCLAIM): a crashed consumer's work is finished by the others.
 *   An entry handed out more than `maxDeliveries` times is poison: dead-lettered, then acknowledged.
 * - Its own entries in flight are re-claimed every third of `claimIdleMs` (XCLAIM JUSTID), which
 *   resets their idle time, so a slow destination does not make others claim them.
 * - Redis unreachable (at start or later) is an outage: reported, waited out with backoff, and never
 *   the end of the source. Only an error waiting cannot mend (a key of another type, no permission,
 *   a Redis older than 6.2) ends the observable with an error.
 */
export const redisStreamGroupSource = (options: RedisStreamGroupSourceOptions): Observable<InboundMessage> =>
  new Observable<InboundMessage>((subscriber) => {
    const { redis, stream, group, consumer, field, startId, capacity, capacity$, onEvent = () => {} } = options;
    const { blockMs = 1000, claimIdleMs = 60_000, maxDeliveries = 5, deleteAcknowledged = false } = options;
    const { forgetConsumersAfterMs = 3_600_000, onPoison, turnBook } = options;
    const reader = redis.duplicate();
    // The reader reconnects by itself; its failures show as failed reads, reported below.
    reader.on('error', () => {});
    const inFlight = new Set<string>();
    const stop$ = new Subject<void>();
    let stopped = false;
    let reading = false;
    const timers: Subscription[] = [];

    const sleep = (ms: number): Promise<unknown> => sleepUnless(ms, stop$);

    /**
     * Runs `step` until it succeeds, waiting out outages with backoff. An error waiting cannot mend is
     * thrown on, and ends the source.
     */
    const untilDone = async <T>(step: () => Promise<T>): Promise<T | undefined> => {
      for (let attempt = 1; !stopped; attempt += 1) {
        try {
          return await step();
        } catch (error) {
          if (stopped) return undefined;
          if (!isRedisOutage(error)) throw error;
          reading = false;
          const retryInMs = backoffMs(attempt, STORE_OUTAGE_BACKOFF);
          onEvent({ type: 'outage', error: asError(error), retryInMs });
          await sleep(retryInMs);
        }
      }
      return undefined;
    };

    /**
     * Entries a read returned after the stop: never seen by the pipeline, so nothing was done with
     * them. Marking them long idle lets the next consumer claim them at once, not after claimIdleMs.
     */
    const release = (ids: readonly string[]): void => {
      if (ids.length === 0) return;
      redis.xclaim(stream, group, consumer, 0, ...ids, 'IDLE', claimIdleMs * 1000, 'JUSTID').catch(() => {});
    };

    const acknowledge = (id: string, turns: Turns | undefined): Promise<unknown> => {
      inFlight.delete(id);
      // Through the turn book even without turns: it deletes an entry only once every flow has finished it.
      if (turnBook) return turnBook.finishThenAck(stream, group, id, deleteAcknowledged, turns ?? []);
      return deleteAcknowledged
        ? redis.multi().xack(stream, group, id).xdel(stream, id).exec()
        : redis.xack(stream, group, id);
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
        const turns = turnsOf(fields);
        // A lost XACK leaves the entry pending: it is handed out again and dedupe stops a second send.
        const ack = (): void =>
          void acknowledge(id, turns).catch((error: unknown) => onEvent({ type: 'error', error: asError(error) }));
        subscriber.next({
          data: fieldOf(fields, field),
          position: id,
          ack,
          ...(turns ? { turns } : {}),
        });
      }
      return taken;
    };

    /** How often each entry was handed out (XPENDING of the range they span, for this consumer). */
    const deliveriesOf = async (entries: readonly RawEntry[]): Promise<Map<string, number>> => {
      if (entries.length === 0) return new Map();
      const first = entries[0]![0];
      const last = entries[entries.length - 1]![0];
      const rows = replyOf(
        PendingRows,
        await redis.xpending(stream, group, first, last, entries.length, consumer),
        'XPENDING',
      );
      return new Map(rows.map(([id, , , count]) => [id, count]));
    };

    /** Hands entries taken back from a crash on, except poison ones, which are dead-lettered. */
    const emitTakenBack = async (entries: readonly RawEntry[]): Promise<number> => {
      const deliveries = await deliveriesOf(entries);
      const healthy: RawEntry[] = [];
      for (const entry of entries) {
        const [id, fields] = entry;
        const count = deliveries.get(id) ?? 1;
        if (count <= maxDeliveries || !onPoison || inFlight.has(id)) {
          healthy.push(entry);
          continue;
        }
        onEvent({ type: 'poison', id, deliveries: count });
        await onPoison({ id, data: fieldOf(fields, field), deliveries: count });
        // Its turns are finished too: the person's later updates must not wait for a dead letter.
        await acknowledge(id, turnsOf(fields));
      }
      return emit(healthy);
    };

    const ensureGroup = async (): Promise<void> => {
      try {
        await redis.xgroup('CREATE', stream, group, startId, 'MKSTREAM');
        onEvent({ type: 'group-created', stream, group, startId });
      } catch (error) {
        if (!String(messageOf(error)).startsWith('BUSYGROUP')) throw error;
      }
    };

    const waitForCapacity = (): Promise<void> => untilCapacity(capacity, capacity$, stop$);

    /** As many entries as the credit allows (at least one, since a read happens only with credit). */
    const readOwn = (after: string): Promise<RawEntry[]> =>
      readGroup(reader, { stream, group, consumer }, after, Math.max(1, capacity()), blockMs);

    const readNew = async (): Promise<void> => {
      const entries = await readOwn('>');
      if (!reading) onEvent({ type: 'reading' });
      reading = true;
      emit(entries);
    };

    /** Entries this consumer name read before a restart and never acknowledged, oldest first. */
    const readOwnPending = async (): Promise<void> => {
      let after = '0';
      while (!stopped) {
        await waitForCapacity();
        const entries = await readOwn(after);
        if (entries.length === 0) return;
        await emitTakenBack(entries);
        after = entries[entries.length - 1]![0];
      }
    };

    const claim = async (): Promise<void> => {
      let cursor = '0-0';
      let claimed = 0;
      do {
        // Updates waiting their turn may wait for exactly these entries: their credit is lent to claims.
        const count = capacity() + (turnBook?.waitingCount ?? 0);
        if (count <= 0) break;
        const [next, entries] = replyOf(
          AutoClaimReply,
          await redis.xautoclaim(stream, group, consumer, claimIdleMs, cursor, 'COUNT', count),
          'XAUTOCLAIM',
        );
        claimed += await emitTakenBack(entries);
        cursor = next;
      } while (cursor !== '0-0' && !stopped);
      if (claimed > 0) onEvent({ type: 'claimed', count: claimed });
    };

    /** Consumers that left (nothing pending, idle long): removed, so the group does not collect them for months. */
    const forgetLeftConsumers = async (): Promise<void> => {
      const consumers = replyOf(ConsumerInfos, await redis.xinfo('CONSUMERS', stream, group), 'XINFO CONSUMERS');
      for (const fields of consumers) {
        const info = Object.fromEntries(
          Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]]),
        );
        const name = String(info.name);
        if (name === consumer || Number(info.pending) !== 0 || Number(info.idle) < forgetConsumersAfterMs) continue;
        // DELCONSUMER drops the consumer's pending entries with it: only ever one that holds none.
        await redis.xgroup('DELCONSUMER', stream, group, name);
        onEvent({ type: 'consumer-removed', consumer: name });
      }
    };

    const keepOwnEntries = async (): Promise<void> => {
      const ids = [...inFlight];
      for (let i = 0; i < ids.length; i += 1000)
        await redis.xclaim(stream, group, consumer, 0, ...ids.slice(i, i + 1000), 'JUSTID');
    };

    const run = async (): Promise<void> => {
      await untilDone(() => requireStreamsVersion(redis));
      await untilDone(ensureGroup);
      await untilDone(readOwnPending);
      timers.push(
        timer(claimIdleMs / 3, claimIdleMs / 3).subscribe(() => {
          if (!stopped) keepOwnEntries().catch((error: unknown) => onEvent({ type: 'error', error: asError(error) }));
        }),
      );
      let claimDue = 0;
      let forgetDue = 0;
      while (!stopped) {
        await waitForCapacity();
        if (stopped) break;
        // Claims run here, between reads, never beside one: together they stay within the credit.
        if (Date.now() >= claimDue) {
          await untilDone(claim);
          claimDue = Date.now() + claimIdleMs / 2;
        }
        if (Date.now() >= forgetDue) {
          await untilDone(forgetLeftConsumers);
          forgetDue = Date.now() + Math.min(forgetConsumersAfterMs, 600_000);
        }
        await untilDone(async () => {
          try {
            await readNew();
          } catch (error) {
            // The stream or the group was deleted under us: make them again rather than fail forever.
            if (!String(messageOf(error)).startsWith('NOGROUP')) throw error;
            onEvent({ type: 'error', error: asError(error) });
            await ensureGroup();
          }
        });
      }
    };

    run().catch((error: unknown) => {
      if (!stopped) subscriber.error(asError(error));
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
