import { Subject, type Observable } from 'rxjs';
import { luaScript, type Redis, IntegerReply } from './connection.js';

/** A person's line is forgotten after this long untouched (30 days): longer than any entry stays pending. */
export const TURN_TTL_SECONDS = 30 * 86_400;

/** One profile's place in its person's line, as the journal recorded it. */
export interface LineTurn {
  readonly key: string;
  readonly seq: number;
}

// Marks `seq` finished in a flow's record of a line (`doneKey`; the line itself in the one-flow form):
// `done` (every seq up to it is finished) moves on, over any seq that finished early (`f<seq>`, an update
// excluded before its turn came). `forget`: every flow has finished the seq, so the line's note of which
// journal entry holds it (`e<seq>`) goes.
const FINISH = `
local function finish(line, doneKey, seq, ttl, forget)
  local done = tonumber(redis.call('HGET', doneKey, 'done') or '0')
  if forget then redis.call('HDEL', line, 'e' .. seq) end
  if seq == done + 1 then
    done = seq
    while redis.call('HDEL', doneKey, 'f' .. (done + 1)) == 1 do done = done + 1 end
    redis.call('HSET', doneKey, 'done', done)
  elseif seq > done + 1 then
    redis.call('HSET', doneKey, 'f' .. seq, 1)
  end
  redis.call('EXPIRE', doneKey, ttl)
end`;

// Whether every group in the JSON list \`others\` has finished entry \`id\` of \`stream\` (delivered to it
// and not pending). A group that does not exist (yet) holds nothing: it will start after this entry.
const FINISHED_BY_OTHERS = `
local function before(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  if tonumber(ams) ~= tonumber(bms) then return tonumber(ams) < tonumber(bms) end
  return tonumber(aseq) < tonumber(bseq)
end
-- Each group of the stream by name: the id of the last entry delivered to it.
local function lastDelivered(stream)
  local last = {}
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local name, delivered
    for i = 1, #info, 2 do
      if info[i] == 'name' then name = info[i + 1] elseif info[i] == 'last-delivered-id' then delivered = info[i + 1] end
    end
    last[name] = delivered
  end
  return last
end
local function finishedByOthers(stream, id, others)
  if #others == 0 then return true end
  local last = lastDelivered(stream)
  for _, group in ipairs(others) do
    if last[group] ~= nil then
      if before(last[group], id) then return false end
      if #redis.call('XPENDING', stream, group, id, id, 1) > 0 then return false end
    end
  end
  return true
end`;

// KEYS: stream. ARGV: group, id, delete (1|0), line prefix, done prefix, ttl, the other flows' groups
// (JSON), then key, seq, key, seq... Finishing and acknowledging are one atomic step: a crash can never
// leave an entry acknowledged with its turns unfinished (its line would wait forever) or finished and
// still pending. The entry is deleted (with `delete`) only once every flow's group has finished it.
const FINISH_THEN_ACK = `${FINISH}${FINISHED_BY_OTHERS}
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
local byAll = finishedByOthers(KEYS[1], ARGV[2], cjson.decode(ARGV[7]))
for i = 8, #ARGV, 2 do finish(ARGV[4] .. ARGV[i], ARGV[5] .. ARGV[i], tonumber(ARGV[i + 1]), ARGV[6], byAll) end
if ARGV[3] == '1' and byAll then redis.call('XDEL', KEYS[1], ARGV[2]) end
return 1`;

// KEYS: stream, line, done key. ARGV: ttl, forget (1|0), this flow's group ('' if none). A turn of a
// line can never be finished by this flow's consumers when its journal entry is gone (deleted by hand,
// trimmed), when its note is gone though its number was given (every other flow finished it before this
// flow's group existed: a flow added, or turned back on), or when this group's position is already past
// the entry and it is not pending in it (the same). Every such turn in a row is finished here at once,
// or the line waits forever. With several flows the notes stay for the others to see.
const SKIP_LOST = `${FINISH}${FINISHED_BY_OTHERS}
local function lostTurn(seq)
  if seq > tonumber(redis.call('HGET', KEYS[2], 'next') or '0') then return false end
  local id = redis.call('HGET', KEYS[2], 'e' .. seq)
  if not id or #redis.call('XRANGE', KEYS[1], id, id) == 0 then return true end
  if ARGV[3] == '' then return false end
  local delivered = lastDelivered(KEYS[1])[ARGV[3]]
  return delivered ~= nil and not before(delivered, id) and #redis.call('XPENDING', KEYS[1], ARGV[3], id, id, 1) == 0
end
local skipped = 0
while true do
  local seq = tonumber(redis.call('HGET', KEYS[3], 'done') or '0') + 1
  if not lostTurn(seq) then break end
  finish(KEYS[2], KEYS[3], seq, ARGV[1], ARGV[2] == '1')
  skipped = skipped + 1
end
return skipped > 0 and 1 or 0`;

export interface RedisTurnBookOptions {
  /** Where the journal numbers each person's updates (`<linePrefix><identity>`: `next`, `e<seq>`). */
  readonly linePrefix: string;
  /** Where this flow records what it finished (`done`, `f<seq>`); the lines themselves in the one-flow form. */
  readonly donePrefix?: string;
  /** The journal whose entries the lines number (to tell an entry that is gone). */
  readonly journal?: string | undefined;
  /** The other flows' consumer groups on the same stream: an entry is deleted once all have finished it. */
  readonly otherGroups?: readonly string[];
  /** This flow's own group on the journal: an entry its position is already past is one it will never read. */
  readonly group?: string | undefined;
}

/**
 * Where each person's line stands, in Redis (`<prefix>:line:<identity>`), shared by every process of a
 * destination. The journal appends number each person's updates (`next`); the stream source finishes
 * them as it acknowledges (`done`); `keepOrder` waits until an update's predecessors are done.
 */
export class RedisTurnBook {
  readonly linePrefix: string;
  readonly donePrefix: string;
  readonly #journal: string | undefined;
  readonly #otherGroups: string;
  readonly #group: string;
  readonly #finished = new Subject<string>();
  readonly #finishThenAck;
  readonly #skipLost;
  #waiting = 0;

  constructor(
    private readonly redis: Redis,
    { linePrefix, donePrefix = linePrefix, journal, otherGroups = [], group }: RedisTurnBookOptions,
  ) {
    this.linePrefix = linePrefix;
    this.donePrefix = donePrefix;
    this.#journal = journal;
    this.#otherGroups = JSON.stringify(otherGroups);
    this.#group = group ?? '';
    this.#finishThenAck = luaScript(redis, 'qaFinishThenAck', 1, FINISH_THEN_ACK, IntegerReply);
    this.#skipLost = luaScript(redis, 'qaSkipLostTurn', 3, SKIP_LOST, IntegerReply);
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
    return Number((await this.redis.hget(this.donePrefix + key, 'done')) ?? 0);
  }

  /** Finishes the next turn of `key`'s line if its journal entry no longer exists; true if it did. */
  async skipLost(key: string): Promise<boolean> {
    if (this.#journal === undefined) return false;
    const forget = this.#otherGroups === '[]' ? 1 : 0;
    const skipped =
      (await this.#skipLost(
        this.#journal,
        this.linePrefix + key,
        this.donePrefix + key,
        TURN_TTL_SECONDS,
        forget,
        this.#group,
      )) === 1;
    if (skipped) this.#finished.next(key);
    return skipped;
  }

  /** Finishes an entry's turns and acknowledges it (and deletes it, for a journal, once every flow is done). */
  async finishThenAck(
    stream: string,
    group: string,
    id: string,
    deleteEntry: boolean,
    turns: ReadonlyArray<LineTurn | null>,
  ): Promise<void> {
    const pairs = turns.flatMap((turn) => (turn ? [turn.key, turn.seq] : []));
    await this.#finishThenAck(
      stream,
      group,
      id,
      deleteEntry ? 1 : 0,
      this.linePrefix,
      this.donePrefix,
      TURN_TTL_SECONDS,
      this.#otherGroups,
      ...pairs,
    );
    for (const turn of turns) if (turn) this.#finished.next(turn.key);
  }
}
