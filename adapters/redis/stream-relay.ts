import { Observable, firstValueFrom, filter, race, Subject, type Subscription } from 'rxjs';
import { backoffMs, STORE_OUTAGE_BACKOFF } from '../../operators/model/backoff.js';
import type { InboundMessage } from '../inbound-message.js';
import { luaScript, type Redis, IntegerReply } from './connection.js';
import { asError, isRedisOutage } from './errors.js';
import { fieldOf, readGroup, sleepUnless, type RawEntry } from './stream-entries.js';

/** A message relayed from a stream: `reply(true)` once it is safe elsewhere acknowledges it in the stream. */
export interface RelayedMessage extends InboundMessage {
  readonly reply: (ok: boolean) => void;
}

export type RelayEvent =
  | { readonly type: 'leading' }
  | { readonly type: 'following' }
  | { readonly type: 'outage'; readonly error: Error; readonly retryInMs: number };

export interface StreamRelayOptions {
  readonly redis: Redis;
  readonly stream: string;
  readonly group: string;
  readonly field: string;
  /** Where a new group starts: `$` or `0`. */
  readonly startId: string;
  /** The lock that makes one process at a time the relay (a key with the destination's hash tag). */
  readonly lockKey: string;
  /** While true, nothing is read (the journal the relay feeds is full or unavailable). */
  readonly paused$: Observable<boolean>;
  readonly lockMs?: number;
  readonly batch?: number;
  readonly onEvent?: (event: RelayEvent) => void;
}

/** The relay's consumer name: the same in every process, so a new relay takes over its predecessor's entries. */
export const RELAY_CONSUMER = 'journal-relay';

// KEYS: lock. ARGV: owner, ms. Takes the lock, or extends it if it is ours; answers 1 if we hold it.
const HOLD = `
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

// KEYS: lock. ARGV: owner. Lets the lock go if it is ours, so the next relay need not wait for it to lapse.
const LET_GO = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Relays a Redis stream the program does not write into the journal, in the stream's order, so that
 * per-person order holds across processes for it too (the journal numbers each person's updates as it
 * appends them). Several readers would append in different orders, so one process at a time relays: it
 * holds a lock in Redis (renewed every third of `lockMs`), reads as the group's one consumer
 * `journal-relay`, and acknowledges an entry once the journal has it. If it dies, the lock lapses, the
 * next process takes over and first re-reads what was read and not acknowledged (an entry appended
 * twice is caught by dedupe). While the journal pauses (`paused$`), nothing is read.
 */
export const streamRelay = (options: StreamRelayOptions): Observable<RelayedMessage> =>
  new Observable<RelayedMessage>((subscriber) => {
    const { redis, stream, group, field, startId, lockKey, paused$, lockMs = 10_000, batch = 500 } = options;
    const { onEvent = () => {} } = options;
    const owner = `${process.pid}-${Math.random().toString(36).slice(2)}`;
    const hold = luaScript(redis, 'qaRelayHold', 1, HOLD, IntegerReply);
    const letGo = luaScript(redis, 'qaRelayLetGo', 1, LET_GO, IntegerReply);
    const reader = redis.duplicate();
    reader.on('error', () => {});
    const stop$ = new Subject<void>();
    let stopped = false;
    let paused = false;
    const pauses: Subscription = paused$.subscribe((value) => (paused = value));
    const sleep = (ms: number): Promise<unknown> => sleepUnless(ms, stop$);
    const unpaused = (): Promise<unknown> =>
      firstValueFrom(race(paused$.pipe(filter((value) => !value)), stop$), { defaultValue: undefined });

    const read = (after: string): Promise<RawEntry[]> =>
      readGroup(reader, { stream, group, consumer: RELAY_CONSUMER }, after, batch, 1000);

    const relay = (entries: readonly RawEntry[]): void => {
      for (const [id, fields] of entries) {
        const reply = (ok: boolean): void => {
          if (ok) redis.xack(stream, group, id).catch(() => {});
        };
        subscriber.next({ data: fieldOf(fields, field), position: id, reply });
      }
    };

    const run = async (): Promise<void> => {
      await redis.xgroup('CREATE', stream, group, startId, 'MKSTREAM').catch((error: Error) => {
        if (!error.message.startsWith('BUSYGROUP')) throw error;
      });
      let leading = false;
      let heldAt = 0;
      // On taking over, what the last relay read and did not see through is read again first.
      let after = '0';
      for (let failures = 0; !stopped; ) {
        try {
          if (!leading || Date.now() - heldAt > lockMs / 3) {
            const held = (await hold(lockKey, owner, lockMs)) === 1;
            if (held !== leading) onEvent({ type: held ? 'leading' : 'following' });
            if (held && !leading) after = '0';
            leading = held;
            heldAt = Date.now();
            if (!leading) {
              await sleep(lockMs / 3);
              continue;
            }
          }
          if (paused) await unpaused();
          if (stopped) break;
          const entries = await read(after);
          if (after !== '>') after = entries.length === 0 ? '>' : entries[entries.length - 1]![0];
          relay(entries);
          failures = 0;
        } catch (error) {
          if (stopped) break;
          if (!isRedisOutage(error)) throw error;
          failures += 1;
          const retryInMs = backoffMs(failures, STORE_OUTAGE_BACKOFF);
          leading = false;
          onEvent({ type: 'outage', error: asError(error), retryInMs });
          await sleep(retryInMs);
        }
      }
    };

    run().catch((error: unknown) => {
      if (!stopped) subscriber.error(asError(error));
    });
    return () => {
      stopped = true;
      stop$.next();
      pauses.unsubscribe();
      reader.quit().catch(() => reader.disconnect());
      letGo(lockKey, owner).catch(() => {});
    };
  });
