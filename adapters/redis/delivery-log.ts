import { keysFor, luaScript, type Redis, IntegerReply } from './connection.js';
import { perTurn } from './per-turn.js';

// Positions are `<stream>@<ms>-<seq>[#part]` (see operators/model/order.ts streamPositionOf): only
// positions of the same stream are ordered; any other replaces.
// Every key of a batch, in order; ARGV: each key's position, then the TTL in ms. A position older than the
// one kept leaves it; a key twice in a batch: the later call compares with what the earlier one kept.
const RECORD = `
local function parse(position)
  local stream, ms, seq, part = string.match(position, '^(.*)@(%d+)-(%d+)#?(%d*)$')
  if not ms then return nil end
  if part == '' then part = -1 end
  return { tonumber(ms), tonumber(seq), tonumber(part), stream }
end
local ttl = ARGV[#KEYS + 1]
local recorded = 0
for k, key in ipairs(KEYS) do
  local newer = true
  local current = redis.call('GET', key)
  if current then
    local a, b = parse(current), parse(ARGV[k])
    if a and b and a[4] == b[4] then
      for i = 1, 3 do
        if a[i] > b[i] then newer = false break end
        if a[i] < b[i] then break end
      end
    end
  end
  if newer then
    redis.call('SET', key, ARGV[k], 'PX', ttl)
    recorded = recorded + 1
  end
end
return recorded`;

/**
 * The latest position delivered per identity, shared by every process of a destination. Reads and
 * records asked in one turn of the event loop go as one command each (`perTurn`: an MGET, one script
 * over every key), not one per update.
 */
export class RedisDeliveryLog {
  readonly #keys;
  readonly #read: (key: string) => Promise<string | null>;
  readonly #record: (call: { readonly key: string; readonly position: string }) => Promise<void>;

  constructor(redis: Redis, prefix: string, ttlMs: number) {
    this.#keys = keysFor(prefix);
    this.#read = perTurn((keys: readonly string[]) => redis.mget(...keys));
    const record = luaScript(redis, 'qaRecordDeliveredAll', undefined, RECORD, IntegerReply);
    this.#record = perTurn(async (calls: readonly { readonly key: string; readonly position: string }[]) => {
      await record(calls.length, ...calls.map((call) => call.key), ...calls.map((call) => call.position), ttlMs);
      return calls.map(() => undefined);
    });
  }

  async lastDelivered(identity: string): Promise<string | undefined> {
    return (await this.#read(this.#keys.last(identity))) ?? undefined;
  }

  recordDelivered(identity: string, position: string): Promise<void> {
    return this.#record({ key: this.#keys.last(identity), position });
  }
}
