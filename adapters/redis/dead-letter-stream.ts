import { parseJson } from '../../operators/model/json.js';
import { keysFor, type Redis } from './connection.js';
import { fieldOf, RawEntries, replyOf } from './stream-entries.js';

/** Dead letters kept at most; the oldest go first (approximately: MAXLEN ~ lets Redis trim cheaply). */
export const DEAD_LETTER_MAX_LENGTH = 1_000_000;

/** Dead letters in the Redis stream `<prefix>:dead`: fields `reason` (to filter on) and `letter` (JSON). */
export class RedisDeadLetterStream {
  readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = keysFor(prefix).dead;
  }

  async add(letter: { readonly reason: string }): Promise<void> {
    await this.redis.xadd(
      this.key,
      'MAXLEN',
      '~',
      DEAD_LETTER_MAX_LENGTH,
      '*',
      'reason',
      letter.reason,
      'letter',
      JSON.stringify(letter),
    );
  }

  size(): Promise<number> {
    return this.redis.xlen(this.key);
  }

  /** Removes the letters with these stream ids. */
  async remove(ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.redis.xdel(this.key, ...ids);
  }

  /** Every letter with its stream id, oldest first. */
  async entries(): Promise<Array<{ id: string; letter: unknown }>> {
    return this.list(Number.MAX_SAFE_INTEGER);
  }

  /**
   * The first `count` letters with their stream ids, oldest first. A letter that does not read as JSON
   * (or has no `letter` field) is listed as undefined: `fromDeadLetter` excludes it as `invalid-dead-letter`,
   * and one bad entry costs no other.
   */
  async list(count = 1000): Promise<Array<{ id: string; letter: unknown }>> {
    const entries = replyOf(RawEntries, await this.redis.xrange(this.key, '-', '+', 'COUNT', count), 'XRANGE');
    return entries.map(([id, fields]) => ({ id, letter: parseJson(fieldOf(fields, 'letter') ?? '') }));
  }
}
