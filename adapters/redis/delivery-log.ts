import { parseJson } from '../../operators/model/json.js';
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
 * The latest position delivered per identity (for `ttlMs`), and the audiences it is in as delivered and
 * the consent withdrawals delivered to it (both without expiry), shared by every process of a destination.
 * Reads and position records asked in one turn of the event loop go as one command each (`perTurn`: an
 * MGET, one script over every key), not one per update.
 */
export class RedisDeliveryLog {
  readonly #keys;
  readonly #read: (key: string) => Promise<string | null>;
  readonly #record: (call: { readonly key: string; readonly position: string }) => Promise<void>;
  readonly #name: (identity: string) => Promise<string>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    ttlMs: number,
    /** The name an identity is stored under (a keyed hash: see `IdentityHasher`). Default: itself. */
    name: (identity: string) => Promise<string> = async (identity) => identity,
  ) {
    this.#keys = keysFor(prefix);
    this.#name = name;
    this.#read = perTurn((keys: readonly string[]) => redis.mget(...keys));
    const record = luaScript(redis, 'qaRecordDeliveredAll', undefined, RECORD, IntegerReply);
    this.#record = perTurn(async (calls: readonly { readonly key: string; readonly position: string }[]) => {
      await record(calls.length, ...calls.map((call) => call.key), ...calls.map((call) => call.position), ttlMs);
      return calls.map(() => undefined);
    });
  }

  // Names are awaited before the batched calls: a turn's names are ready in the same drain of the
  // microtask queue, so its calls still meet in one batch (perTurn flushes on the next tick).
  async lastDelivered(identity: string): Promise<string | undefined> {
    return (await this.#read(this.#keys.last(await this.#name(identity)))) ?? undefined;
  }

  async recordDelivered(identity: string, position: string): Promise<void> {
    return this.#record({ key: this.#keys.last(await this.#name(identity)), position });
  }

  async forgottenAt(identity: string): Promise<number | undefined> {
    const at = Number((await this.#read(this.#keys.forgotten(await this.#name(identity)))) ?? Number.NaN);
    return Number.isFinite(at) ? at : undefined;
  }

  async audiencesIn(identity: string): Promise<readonly string[]> {
    const stored = parseJson((await this.#read(this.#keys.audiencesIn(await this.#name(identity)))) ?? '[]');
    return Array.isArray(stored) ? stored.filter((id): id is string => typeof id === 'string') : [];
  }

  /** Without expiry (a SET without PX also clears the TTL an older version gave it); `forget` deletes it. */
  async recordAudiencesIn(identity: string, audiences: readonly string[]): Promise<void> {
    const key = this.#keys.audiencesIn(await this.#name(identity));
    if (audiences.length === 0) await this.redis.del(key);
    else await this.redis.set(key, JSON.stringify(audiences));
  }

  async withdrawals(identity: string): Promise<number> {
    const count = Number((await this.#read(this.#keys.withdrawals(await this.#name(identity)))) ?? 0);
    return Number.isSafeInteger(count) ? count : 0;
  }

  async recordWithdrawal(identity: string): Promise<void> {
    await this.redis.incr(this.#keys.withdrawals(await this.#name(identity)));
  }
}
