import { parseJson } from '../../operators/model/json.js';
import { keysFor, luaScript, type Redis, IntegerReply } from './connection.js';

// Positions are `<stream>@<ms>-<seq>[#part]` (see operators/model/order.ts streamPositionOf): only
// positions of the same stream are ordered; any other replaces.
const RECORD = `
local function parse(position)
  local stream, ms, seq, part = string.match(position, '^(.*)@(%d+)-(%d+)#?(%d*)$')
  if not ms then return nil end
  if part == '' then part = -1 end
  return { tonumber(ms), tonumber(seq), tonumber(part), stream }
end
local current = redis.call('GET', KEYS[1])
if current then
  local a, b = parse(current), parse(ARGV[1])
  if a and b and a[4] == b[4] then
    for i = 1, 3 do
      if a[i] > b[i] then return 0 end
      if a[i] < b[i] then break end
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/**
 * The latest position delivered per identity (for `ttlMs`), and the audiences it is in as delivered and
 * the consent withdrawals delivered to it (both without expiry), shared by every process of a destination.
 */
export class RedisDeliveryLog {
  readonly #keys;
  readonly #record;

  readonly #name: (identity: string) => Promise<string>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly ttlMs: number,
    /** The name an identity is stored under (a keyed hash: see `IdentityHasher`). Default: itself. */
    name: (identity: string) => Promise<string> = async (identity) => identity,
  ) {
    this.#keys = keysFor(prefix);
    this.#name = name;
    this.#record = luaScript(redis, 'qaRecordDelivered', 1, RECORD, IntegerReply);
  }

  async lastDelivered(identity: string): Promise<string | undefined> {
    return (await this.redis.get(this.#keys.last(await this.#name(identity)))) ?? undefined;
  }

  async recordDelivered(identity: string, position: string): Promise<void> {
    await this.#record(this.#keys.last(await this.#name(identity)), position, this.ttlMs);
  }

  async forgottenAt(identity: string): Promise<number | undefined> {
    const at = Number((await this.redis.get(this.#keys.forgotten(await this.#name(identity)))) ?? Number.NaN);
    return Number.isFinite(at) ? at : undefined;
  }

  async audiencesIn(identity: string): Promise<readonly string[]> {
    const stored = parseJson((await this.redis.get(this.#keys.audiencesIn(await this.#name(identity)))) ?? '[]');
    return Array.isArray(stored) ? stored.filter((id): id is string => typeof id === 'string') : [];
  }

  /** Without expiry (a SET without PX also clears the TTL an older version gave it); `forget` deletes it. */
  async recordAudiencesIn(identity: string, audiences: readonly string[]): Promise<void> {
    const key = this.#keys.audiencesIn(await this.#name(identity));
    if (audiences.length === 0) await this.redis.del(key);
    else await this.redis.set(key, JSON.stringify(audiences));
  }

  async withdrawals(identity: string): Promise<number> {
    const count = Number((await this.redis.get(this.#keys.withdrawals(await this.#name(identity)))) ?? 0);
    return Number.isSafeInteger(count) ? count : 0;
  }

  async recordWithdrawal(identity: string): Promise<void> {
    await this.redis.incr(this.#keys.withdrawals(await this.#name(identity)));
  }
}
