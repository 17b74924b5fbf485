import * as t from 'io-ts';
import { luaScript, type Redis, OptionalStringReply } from './connection.js';
import { TURN_TTL_SECONDS } from './turn-book.js';

export interface StreamJournalOptions {
  readonly redis: Redis;
  readonly stream: string;
  /** The consumer groups that read the journal (one per flow); created with the stream, so none misses an entry. */
  readonly groups: readonly string[];
  readonly field: string;
  /**
   * Hold at most this many entries not every group has finished. The groups' sources delete an entry
   * once every group has acknowledged it (`deleteAcknowledged`), so the stream's length is what is still
   * to do.
   */
  readonly maxLength?: number;
  /**
   * Where people's lines are kept (`RedisTurnBook.linePrefix`): with it, each appended profile that has
   * a key is numbered in its line, and the entry carries the numbers in the field `turns`.
   */
  readonly linePrefix?: string;
  /**
   * The name a person's line and the entry's `turns` use for an identity key (a keyed hash, so neither a
   * key name nor a stream field holds an identity in clear: see `IdentityHasher`). Default: the key itself.
   */
  readonly nameOf?: (key: string) => Promise<string>;
}

/** A message to append, and the identity key of each profile it holds (null: none), if known. */
export interface JournalMessage {
  readonly data: string | Buffer;
  readonly keys?: ReadonlyArray<string | null> | undefined;
}

/** What one append of a batch came to: how many of its messages (from the first) are in the journal. */
export interface AppendResult {
  readonly appended: number;
  /** The entry ids of the appended messages, in order. */
  readonly ids: readonly string[];
  /** The journal holds `maxLength` entries: the rest of the batch must wait. */
  readonly full: boolean;
  /** Why Redis refused the next message of the batch, if it did (the ones before it are appended). */
  readonly refused?: string;
}

// KEYS: stream. ARGV: the consumer groups (JSON: every flow's, created with the stream), field, maxLength (0: none), line prefix ('' : none), line ttl, then per
// message its data and its profiles' identity keys as JSON ('' when unknown). Answers the ids appended
// and the error that stopped the batch, if one did (the messages before it are in, numbered).
// One script per batch: the batch lands in order, all or up to the first that does not fit, and the
// length check, the numbering in each person's line and the appends are one atomic step, so
// `maxLength` is never overshot and a line's numbers follow the stream's order, even with several
// processes appending at once.
const APPEND = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  for _, group in ipairs(cjson.decode(ARGV[1])) do redis.call('XGROUP', 'CREATE', KEYS[1], group, '$', 'MKSTREAM') end
end
local maxLength = tonumber(ARGV[3])
local room = (#ARGV - 5) / 2
if maxLength > 0 then room = math.min(room, maxLength - redis.call('XLEN', KEYS[1])) end
local ids = {}
for i = 1, room do
  local data, keys = ARGV[4 + 2 * i], ARGV[5 + 2 * i]
  local added
  if ARGV[4] == '' or keys == '' then
    added = redis.pcall('XADD', KEYS[1], '*', ARGV[2], data)
  else
    local turns, lines = {}, {}
    for j, key in ipairs(cjson.decode(keys)) do
      if key == cjson.null then
        turns[j] = cjson.null
      else
        local line = ARGV[4] .. key
        local seq = redis.call('HINCRBY', line, 'next', 1)
        turns[j] = { key, seq }
        lines[#lines + 1] = { line, seq }
        redis.call('EXPIRE', line, ARGV[5])
      end
    end
    added = redis.pcall('XADD', KEYS[1], '*', ARGV[2], data, 'turns', cjson.encode(turns))
    -- A number given to an update that is not in the journal would hold its person's line forever.
    for _, numbered in ipairs(lines) do
      if type(added) == 'table' and added.err then
        redis.call('HINCRBY', numbered[1], 'next', -1)
      else
        -- Which entry holds the number: if that entry is ever lost, the line can be told so.
        redis.call('HSET', numbered[1], 'e' .. numbered[2], added)
      end
    end
  end
  if type(added) == 'table' and added.err then return { ids, added.err } end
  ids[i] = added
end
return { ids, false }`;

/** The append script's answer: the ids appended, and why the rest was refused (nil: nothing was). */
const AppendReply = t.tuple([t.array(t.string), OptionalStringReply]);

/**
 * The durable intake: every update received over a WebSocket is appended (XADD) here first, and the
 * pipeline consumes the stream as a consumer group, so a crash or restart loses nothing received.
 *
 * With `maxLength`, the group's source deletes each entry once acknowledged, so the stream holds only
 * what is still to do; an append that would take it past `maxLength` is refused (the intake waits).
 * Without it, the journal is kept whole (it is also the history `replay` reads).
 */
export class StreamJournal {
  readonly #append: (...keysThenArgs: Array<string | number | Buffer>) => Promise<[string[], string | null]>;

  constructor(private readonly options: StreamJournalOptions) {
    this.#append = luaScript(options.redis, 'qaJournalAppend', 1, APPEND, AppendReply);
  }

  get maxLength(): number | undefined {
    return this.options.maxLength;
  }

  /** Appends messages in order, as many as fit; see `AppendResult`. */
  async append(messages: ReadonlyArray<JournalMessage>): Promise<AppendResult> {
    const { stream, groups, field, maxLength = 0, linePrefix = '' } = this.options;
    if (messages.length === 0) return { appended: 0, ids: [], full: false };
    // An empty list of keys would encode as a Lua table `{}`, not a list: leave such messages unnumbered.
    const { nameOf = async (key: string) => key } = this.options;
    const named = await Promise.all(
      messages.map(async ({ keys }) =>
        keys ? Promise.all(keys.map((key) => (key === null ? null : nameOf(key)))) : undefined,
      ),
    );
    const args = messages.flatMap(({ data }, index) => {
      const keys = named[index];
      return [data, keys && keys.length > 0 ? JSON.stringify(keys) : ''];
    });
    const [ids, refused] = await this.#append(
      stream,
      JSON.stringify(groups),
      field,
      maxLength,
      linePrefix,
      TURN_TTL_SECONDS,
      ...args,
    );
    if (refused) return { appended: ids.length, ids, full: false, refused };
    return { appended: ids.length, ids, full: ids.length < messages.length };
  }

  /** Entries the group has not finished (with `maxLength`), or all the journal holds (without). */
  length(): Promise<number> {
    return this.options.redis.xlen(this.options.stream);
  }
}
