import { Subject, type Observable } from 'rxjs';
import { luaScript, type Redis } from './connection.js';

/** A person's line is forgotten after this long untouched (30 days): longer than any entry stays pending. */
export const TURN_TTL_SECONDS = 30 * 86_400;

/** One profile's place in its person's line, as the journal recorded it. */
export interface LineTurn {
  readonly key: string;
  readonly seq: number;
}

// KEYS: stream. ARGV: group, id, delete (1|0), line prefix, ttl, then key, seq, key, seq...
// Finishing and acknowledging are one atomic step: a crash can never leave an entry acknowledged with
// its turns unfinished (its line would wait forever) or finished and still pending.
// A line's hash holds `done` (every seq up to it is finished) and `f<seq>` for seqs finished early
// (an update excluded before its turn came); `done` moves over those as the gap closes.
const FINISH_THEN_ACK = `
for i = 6, #ARGV, 2 do
  local line = ARGV[4] .. ARGV[i]
  local seq = tonumber(ARGV[i + 1])
  local done = tonumber(redis.call('HGET', line, 'done') or '0')
  if seq == done + 1 then
    done = seq
    while redis.call('HDEL', line, 'f' .. (done + 1)) == 1 do done = done + 1 end
    redis.call('HSET', line, 'done', done)
  elseif seq > done + 1 then
    redis.call('HSET', line, 'f' .. seq, 1)
  end
  redis.call('EXPIRE', line, ARGV[5])
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '1' then redis.call('XDEL', KEYS[1], ARGV[2]) end
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
  #waiting = 0;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.linePrefix = `${prefix}:line:`;
    this.#finishThenAck = luaScript<number>(redis, 'qaFinishThenAck', 1, FINISH_THEN_ACK);
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
