import { luaScript, type Redis } from './connection.js';

export interface StreamJournalOptions {
  readonly redis: Redis;
  readonly stream: string;
  /** The consumer group that reads the journal; created with the stream, so it misses no entry. */
  readonly group: string;
  readonly field: string;
  /**
   * Hold at most this many entries the group has not finished. The group's source deletes what it
   * acknowledges (`deleteAcknowledged`), so the stream's length is what is still to do.
   */
  readonly maxLength?: number;
}

/** What one append of a batch came to: how many of its messages (from the first) are in the journal. */
export interface AppendResult {
  readonly appended: number;
  /** The entry ids of the appended messages, in order. */
  readonly ids: readonly string[];
  /** The journal holds `maxLength` entries: the rest of the batch must wait. */
  readonly full: boolean;
}

// KEYS: stream. ARGV: group, field, maxLength (0: none), then one message per argument.
// One script per batch: the batch lands in order, all or up to the first that does not fit, and the
// length check and the appends are one atomic step, so `maxLength` is never overshot, even by
// several processes appending at once.
const APPEND = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM')
end
local maxLength = tonumber(ARGV[3])
local room = #ARGV - 3
if maxLength > 0 then room = math.min(room, maxLength - redis.call('XLEN', KEYS[1])) end
local ids = {}
for i = 1, room do
  ids[i] = redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[3 + i])
end
return ids`;

/**
 * The durable intake: every update received over a WebSocket is appended (XADD) here first, and the
 * pipeline consumes the stream as a consumer group, so a crash or restart loses nothing received.
 *
 * With `maxLength`, the group's source deletes each entry once acknowledged, so the stream holds only
 * what is still to do; an append that would take it past `maxLength` is refused (the intake waits).
 * Without it, the journal is kept whole (it is also the history `replay` reads).
 */
export class StreamJournal {
  readonly #append: (...keysThenArgs: Array<string | number | Buffer>) => Promise<string[]>;

  constructor(private readonly options: StreamJournalOptions) {
    this.#append = luaScript<string[]>(options.redis, 'qaJournalAppend', 1, APPEND);
  }

  get maxLength(): number | undefined {
    return this.options.maxLength;
  }

  /** Appends messages in order, as many as fit; see `AppendResult`. */
  async append(messages: ReadonlyArray<string | Buffer>): Promise<AppendResult> {
    const { stream, group, field, maxLength = 0 } = this.options;
    if (messages.length === 0) return { appended: 0, ids: [], full: false };
    const ids = await this.#append(stream, group, field, maxLength, ...messages);
    return { appended: ids.length, ids, full: ids.length < messages.length };
  }

  /** Entries the group has not finished (with `maxLength`), or all the journal holds (without). */
  length(): Promise<number> {
    return this.options.redis.xlen(this.options.stream);
  }
}
