import { parseJson } from '../../operators/model/json.js';
import { IntegerReply, keysFor, luaScript, type Redis } from './connection.js';

/** Pushes every entry given (oldest first, so the newest ends at the head) and trims: one command a batch. */
const PUSH = `
redis.call('LPUSH', KEYS[1], unpack(ARGV, 2))
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[1]) - 1)
return #ARGV - 1`;

/**
 * The run history in a Redis list `<prefix>:history`, newest first, trimmed to `size`: shared by every
 * process of a destination and readable by `qualtrics-automations history`. Entries come in batches
 * (`addAll`, what settled in one turn of the event loop): one script per batch pushes and trims.
 */
export class RedisHistory<T> {
  readonly key: string;
  readonly #push: (...keysThenArgs: Array<string | number>) => Promise<number>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly size: number,
    /** Tells an entry from anything else in the list (an older program's format, a hand-made push). */
    private readonly isEntry: (value: unknown) => value is T,
  ) {
    this.key = keysFor(prefix).history;
    this.#push = luaScript(redis, 'qaHistoryPush', 1, PUSH, IntegerReply);
  }

  add(entry: T): Promise<void> {
    return this.addAll([entry]);
  }

  /** Oldest first. Lua's `unpack` takes a few thousand values at most: a larger batch goes in slices. */
  async addAll(entries: readonly T[]): Promise<void> {
    for (let at = 0; at < entries.length; at += 1000)
      await this.#push(this.key, this.size, ...entries.slice(at, at + 1000).map((entry) => JSON.stringify(entry)));
  }

  /** Newest first; what is not an entry is left out. */
  async list(): Promise<T[]> {
    const entries: T[] = [];
    for (const line of await this.redis.lrange(this.key, 0, this.size - 1)) {
      const value = parseJson(line);
      if (this.isEntry(value)) entries.push(value);
    }
    return entries;
  }
}
