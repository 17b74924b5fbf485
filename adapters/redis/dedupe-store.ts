import * as t from 'io-ts';
import { keysFor, luaScript, type Redis, IntegerReply } from './connection.js';
import { perTurn } from './per-turn.js';

// Every key of a batch, in order (a key twice: the second finds the first's lease). ARGV: token, lease ms, ...
// A lease already holding the caller's own token is this very acquire run again (ioredis resends what a
// dropped connection left unanswered; a failed batch is retried): it is the caller's, not someone else's.
const ACQUIRE = `
local answers = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  local mine = 'lease:' .. ARGV[2 * i - 1]
  if value == 'committed' then answers[i] = 'committed'
  elseif value == mine then
    redis.call('SET', key, mine, 'PX', ARGV[2 * i])
    answers[i] = 'acquired'
  elseif value then answers[i] = 'leased'
  else
    redis.call('SET', key, 'lease:' .. ARGV[2 * i - 1], 'PX', ARGV[2 * i])
    answers[i] = 'acquired'
  end
end
return answers`;

// ARGV: the TTL in ms of each key, in order.
const COMMIT = `
for i, key in ipairs(KEYS) do redis.call('SET', key, 'committed', 'PX', ARGV[i]) end
return #KEYS`;

// Only the holder's leases, each key with its token: ARGV token, lease ms, ... (renew) or token, ... (release).
const RENEW = `
local renewed = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == 'lease:' .. ARGV[2 * i - 1] then
    renewed = renewed + redis.call('PEXPIRE', key, ARGV[2 * i])
  end
end
return renewed`;

const RELEASE = `
local released = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == 'lease:' .. ARGV[i] then released = released + redis.call('DEL', key) end
end
return released`;

/** The most keys one script call takes (Redis serves no one else while a script runs). */
const KEYS_PER_SCRIPT = 1000;

/** What the acquire script answers, checked: anything else is a script and a caller that disagree. */
const LeaseReply = t.keyof({ acquired: null, committed: null, leased: null });
const LeaseReplies = t.array(LeaseReply);
type Lease = t.TypeOf<typeof LeaseReply>;

/** A key with the argument(s) its script takes for it. */
interface KeyCall {
  readonly key: string;
  readonly args: readonly (string | number)[];
}

/**
 * Dedupe shared by every process of a destination. A key is `lease:<token>` while its payload is in
 * flight (expiring after the lease, so a crashed process cannot hold it) and `committed` for the TTL
 * once delivered. Each call is one script, atomic; the calls of each kind made in one turn of the event
 * loop (a page of a replay, a burst of a feed, a renewal of every held lease) go as one script for all
 * of their keys (`perTurn`): a replay of already-delivered entries asks once per page, not once per
 * entry; a batch of more than `KEYS_PER_SCRIPT` keys goes in slices. The keys of a destination share a
 * hash tag (its prefix), so a script over several of them is Cluster-safe.
 */
export class RedisDedupeStore {
  readonly #keys;
  readonly #acquire: (call: KeyCall) => Promise<Lease>;
  readonly #commit: (call: KeyCall) => Promise<void>;
  readonly #renew: (call: KeyCall) => Promise<void>;
  readonly #release: (call: KeyCall) => Promise<void>;
  readonly #name: (key: string) => Promise<string>;

  constructor(
    redis: Redis,
    prefix: string,
    /** The name a dedupe key is stored under (its identity hashed: see `IdentityHasher`). Default: itself. */
    name: (key: string) => Promise<string> = async (key) => key,
  ) {
    this.#keys = keysFor(prefix);
    this.#name = name;
    /**
     * A script over a batch of keys, `KEYS_PER_SCRIPT` at most a call: a larger batch goes in slices,
     * sent together (one round trip), each atomic, so that no one call holds Redis, which serves nobody
     * else while a script runs, for long. `answers` reads one slice's reply as an answer per key.
     */
    const script = <R, A>(
      name: string,
      lua: string,
      reply: t.Type<R, unknown>,
      answers: (reply: R, keys: number) => A[],
    ) => {
      const run = luaScript(redis, name, undefined, lua, reply);
      const runSlice = async (calls: readonly KeyCall[]): Promise<A[]> =>
        answers(
          await run(calls.length, ...calls.map((call) => call.key), ...calls.flatMap((call) => call.args)),
          calls.length,
        );
      return async (calls: readonly KeyCall[]): Promise<A[]> => {
        const slices: Array<Promise<A[]>> = [];
        for (let at = 0; at < calls.length; at += KEYS_PER_SCRIPT)
          slices.push(runSlice(calls.slice(at, at + KEYS_PER_SCRIPT)));
        return (await Promise.all(slices)).flat();
      };
    };
    /** A script whose reply is only a count: each call of the batch is answered once the script ran. */
    const perTurnScript = (name: string, lua: string): ((call: KeyCall) => Promise<void>) =>
      perTurn(script(name, lua, IntegerReply, (_count, keys) => Array.from({ length: keys }, () => undefined)));
    this.#acquire = perTurn(script('qaDedupeAcquireAll', ACQUIRE, LeaseReplies, (leases) => leases));
    this.#commit = perTurnScript('qaDedupeCommitAll', COMMIT);
    // The renewal timer renews every lease held in one turn, and a stop releases every waiting one in
    // one: a backlog waiting at the rate limit costs one script a renewal, not one a lease.
    this.#renew = perTurnScript('qaDedupeRenewAll', RENEW);
    this.#release = perTurnScript('qaDedupeReleaseAll', RELEASE);
  }

  // The names are awaited before the batched calls: every name of a turn is ready in the same drain of
  // the microtask queue, so those calls still meet in one batch (perTurn flushes on the next tick).
  async acquire(key: string, token: string, leaseMs: number): Promise<Lease> {
    return this.#acquire({ key: await this.#sent(key), args: [token, Math.ceil(leaseMs)] });
  }

  async renew(key: string, token: string, leaseMs: number): Promise<void> {
    return this.#renew({ key: await this.#sent(key), args: [token, Math.ceil(leaseMs)] });
  }

  async commit(key: string, _token: string, ttlMs: number): Promise<void> {
    return this.#commit({ key: await this.#sent(key), args: [Math.ceil(ttlMs)] });
  }

  async release(key: string, token: string): Promise<void> {
    return this.#release({ key: await this.#sent(key), args: [token] });
  }

  async #sent(key: string): Promise<string> {
    return this.#keys.sent(await this.#name(key));
  }
}
