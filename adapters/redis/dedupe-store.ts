import * as t from 'io-ts';
import { keysFor, luaScript, type Redis, IntegerReply } from './connection.js';

const ACQUIRE = `
local value = redis.call('GET', KEYS[1])
if value == 'committed' then return 'committed' end
if value then return 'leased' end
redis.call('SET', KEYS[1], 'lease:' .. ARGV[1], 'PX', ARGV[2])
return 'acquired'`;

const RENEW = `
if redis.call('GET', KEYS[1]) == 'lease:' .. ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == 'lease:' .. ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** What the acquire script answers, checked: anything else is a script and a caller that disagree. */
const LeaseReply = t.keyof({ acquired: null, committed: null, leased: null });

/**
 * Dedupe shared by every process of a destination. A key is `lease:<token>` while its payload is in
 * flight (expiring after the lease, so a crashed process cannot hold it) and `committed` for the TTL
 * once delivered. Each call is one script, atomic, and autopipelined with its neighbours.
 */
export class RedisDedupeStore {
  readonly #keys;
  readonly #acquire;
  readonly #renew;
  readonly #release;

  readonly #name: (key: string) => Promise<string>;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    /** The name a dedupe key is stored under (its identity hashed: see `IdentityHasher`). Default: itself. */
    name: (key: string) => Promise<string> = async (key) => key,
  ) {
    this.#keys = keysFor(prefix);
    this.#name = name;
    this.#acquire = luaScript(redis, 'qaDedupeAcquire', 1, ACQUIRE, LeaseReply);
    this.#renew = luaScript(redis, 'qaDedupeRenew', 1, RENEW, IntegerReply);
    this.#release = luaScript(redis, 'qaDedupeRelease', 1, RELEASE, IntegerReply);
  }

  async acquire(key: string, token: string, leaseMs: number): Promise<'acquired' | 'committed' | 'leased'> {
    return this.#acquire(await this.#sent(key), token, Math.ceil(leaseMs));
  }

  async renew(key: string, token: string, leaseMs: number): Promise<void> {
    await this.#renew(await this.#sent(key), token, Math.ceil(leaseMs));
  }

  async commit(key: string, _token: string, ttlMs: number): Promise<void> {
    await this.redis.set(await this.#sent(key), 'committed', 'PX', Math.ceil(ttlMs));
  }

  async release(key: string, token: string): Promise<void> {
    await this.#release(await this.#sent(key), token);
  }

  async #sent(key: string): Promise<string> {
    return this.#keys.sent(await this.#name(key));
  }
}
