import { parseJson } from '../../operators/model/json.js';
import { keysFor, type Redis } from './connection.js';

/**
 * The run history in a Redis list `<prefix>:history`, newest first, trimmed to `size`: shared by every
 * process of a destination and readable by `qualtrics-automations history`. One LPUSH and one LTRIM per
 * entry, autopipelined with everything else.
 */
export class RedisHistory<T> {
  readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly size: number,
    /** Tells an entry from anything else in the list (an older program's format, a hand-made push). */
    private readonly isEntry: (value: unknown) => value is T,
  ) {
    this.key = keysFor(prefix).history;
  }

  async add(entry: T): Promise<void> {
    await Promise.all([
      this.redis.lpush(this.key, JSON.stringify(entry)),
      this.redis.ltrim(this.key, 0, this.size - 1),
    ]);
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
