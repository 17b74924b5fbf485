import { Subject, type Observable } from 'rxjs';
import { luaScript, type Redis, IntegerReply } from './connection.js';

/** A person's line is forgotten after this long untouched (30 days): longer than any entry stays pending. */
export const TURN_TTL_SECONDS = 30 * 86_400;

/** One profile's place in its person's line, as the journal recorded it. */
export interface LineTurn {
  readonly key: string;
  readonly seq: number;
}

// Marks `seq` of `line` finished: `done` (every seq up to it is finished) moves on, over any seq that
// finished early (`f<seq>`, an update excluded before its turn came); the seq's entry id (`e<seq>`) goes.
const FINISH = `
local function finish(line, seq, ttl)
  local done = tonumber(redis.call('HGET', line, 'done') or '0')
  redis.call('HDEL', line, 'e' .. seq)
  if seq == done + 1 then
    done = seq
    while redis.call('HDEL', line, 'f' .. (done + 1)) == 1 do done = done + 1 end
    redis.call('HSET', line, 'done', done)
  elseif seq > done + 1 then
    redis.call('HSET', line, 'f' .. seq, 1)
  end
  redis.call('EXPIRE', line, ttl)
end`;

// KEYS: stream. ARGV: group, id, delete (1|0), line prefix, ttl, then key, seq, key, seq...
// Finishing and acknowledging are one atomic step: a crash can never leave an entry acknowledged with
// its turns unfinished (its line would wait forever) or finished and still pending.
const FINISH_THEN_ACK = `${FINISH}
for i = 6, #ARGV, 2 do finish(ARGV[4] .. ARGV[i], tonumber(ARGV[i + 1]), ARGV[5]) end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '1' then redis.call('XDEL', KEYS[1], ARGV[2]) end
return 1`;

// KEYS: stream, line. ARGV: ttl. The next turn of a line whose journal entry is gone (deleted by hand,
// trimmed by someone) can never be finished by a consumer: finish it here, or the line waits forever.
const SKIP_LOST = `${FINISH}
local next = tonumber(redis.call('HGET', KEYS[2], 'done') or '0') + 1
local id = redis.call('HGET', KEYS[2], 'e' .. next)
if not id or #redis.call('XRANGE', KEYS[1], id, id) > 0 then return 0 end
finish(KEYS[2], next, ARGV[1])
return 1`;

/**
 * Where each person's line stands, in Redis (`<prefix>:line:<identity>`), shared by every process of a
 * destination. The journal appends number each person's updates (`next`); the stream source finishes
 * them as it acknowledges (`done`); `keepOrder` waits until an update's predecessors are done.
 */
export class RedisTurnBook {
  readonly linePrefix: string;
  readonly #finished = new Subject<string>();
  readonly #finishThenAck;
  readonly #skipLost;
  #waiting = 0;

  /** `journal`: the stream whose entries the lines number (to tell an entry that is gone). */
  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly journal: string | undefined,
  ) {
    this.linePrefix = `${prefix}:line:`;
    this.#finishThenAck = luaScript(redis, 'qaFinishThenAck', 1, FINISH_THEN_ACK, IntegerReply);
    this.#skipLost = luaScript(redis, 'qaSkipLostTurn', 2, SKIP_LOST, IntegerReply);
  }

  get finished$(): Observable<string> {
    return this.#finished.asObservable();
  }

  /** Updates waiting for their turn in this process now. */
  get waitingCount(): number {
    return this.#waiting;
  }

  waiting(delta: number): void {
    this.#waiting += delta;
  }

  async finishedUpTo(key: string): Promise<number> {
    return Number((await this.redis.hget(this.linePrefix + key, 'done')) ?? 0);
  }

  /** Finishes the next turn of `key`'s line if its journal entry no longer exists; true if it did. */
  async skipLost(key: string): Promise<boolean> {
    if (this.journal === undefined) return false;
    const skipped = (await this.#skipLost(this.journal, this.linePrefix + key, TURN_TTL_SECONDS)) === 1;
    if (skipped) this.#finished.next(key);
    return skipped;
  }

  /** Finishes an entry's turns and acknowledges it (and deletes it, for a journal), in one step. */
  async finishThenAck(
    stream: string,
    group: string,
    id: string,
    deleteEntry: boolean,
    turns: ReadonlyArray<LineTurn | null>,
  ): Promise<void> {
    const pairs = turns.flatMap((turn) => (turn ? [turn.key, turn.seq] : []));
    await this.#finishThenAck(stream, group, id, deleteEntry ? 1 : 0, this.linePrefix, TURN_TTL_SECONDS, ...pairs);
    for (const turn of turns) if (turn) this.#finished.next(turn.key);
  }
}
