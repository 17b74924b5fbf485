import * as t from 'io-ts';
import { ExpiryIndex } from './expiry-index.js';
import { storageKey, type StateStore } from './state-store.js';

/** What the embedded store answers; the same words as the operators' `LeaseResult`. */
export type EmbeddedLeaseResult = 'acquired' | 'committed' | 'leased';

/** A dedupe mark as stored: a lease held by `token` while its payload is in flight, or a commit. */
const DedupeMark = t.union([
  t.type({ state: t.literal('leased'), token: t.string, expiresAt: t.number }),
  t.type({ state: t.literal('committed'), expiresAt: t.number }),
]);
type DedupeMark = t.TypeOf<typeof DedupeMark>;

const leaseMark = (token: string, expiresAt: number): DedupeMark => ({ state: 'leased', token, expiresAt });
const commitMark = (expiresAt: number): DedupeMark => ({ state: 'committed', expiresAt });

/** A stored mark, or undefined for nothing or something unreadable (then it is as if unmarked). */
const markOf = (value: unknown): DedupeMark | undefined => (DedupeMark.is(value) ? value : undefined);
const expiresAtOf = (value: unknown): number | undefined => markOf(value)?.expiresAt;

export interface EmbeddedDedupeStoreOptions {
  readonly now?: () => number;
}

/**
 * Dedupe marks on disk, for a process without Redis: committed marks survive a restart, so restarting
 * does not send everyone's survey again. Same semantics as the Redis and in-memory stores: a key is
 * leased while its payload is in flight (expiring after `leaseMs`) and committed for `ttlMs` once the
 * destination accepted it; only the lease holder renews or releases.
 *
 * Leases are stored too, with their expiry, so two processes on one state directory (`run` and a
 * `dlq redrive`) never send the same payload at once. A lease left by a process that crashed lapses
 * after `leaseMs`, exactly like a Redis lease; it is not cleared on open, since another live process
 * may hold it.
 *
 * Answers and bounds:
 * - `acquire` answers `committed` / `leased` synchronously from a read (LMDB reads are a memory
 *   lookup): a repeat costs no write. Only taking a lease writes, checked under LMDB's single-writer
 *   lock, which every process of the directory shares, so two acquirers, here or elsewhere, never both
 *   get `acquired`: on a key with nothing stored, a write on the condition that nothing is stored yet
 *   (`ifNoExists`); otherwise (an expired or unreadable mark, a sweep due, a conditional write lost to
 *   a mark that has expired since) an asynchronous `transaction` that reads the mark again.
 *   Asynchronous rather than `transactionSync`, because a synchronous commit waits for the disk on the
 *   event loop (about 4 ms each, measured), while the writes of one event turn share one commit.
 *   Conditional and plain writes (a first lease, a commit) run on LMDB's writer thread alone; a
 *   transaction's callback is handed over to the event loop and back (several more wake-ups).
 * - A write made while something is due to expire (stored before this store opened, or by it since)
 *   also removes up to 100 expired marks (oldest first, from an index by expiry time), in a
 *   transaction, so the store holds about what is live: no timer, and nothing grows without bound.
 * - An unreadable stored mark counts as no mark: at worst that payload is sent once more.
 */
export class EmbeddedDedupeStore {
  readonly #state: StateStore;
  readonly #index: ExpiryIndex;
  readonly #now: () => number;

  constructor(state: StateStore, { now = Date.now }: EmbeddedDedupeStoreOptions = {}) {
    this.#state = state;
    this.#index = new ExpiryIndex(state.dedupe, state.dedupeExpiry);
    this.#now = now;
  }

  /** Marks stored, live or expired but not yet swept. */
  get size(): number {
    return this.#state.dedupe.getCount();
  }

  acquire(key: string, token: string, leaseMs: number): EmbeddedLeaseResult | Promise<EmbeddedLeaseResult> {
    const stored = storageKey(key);
    const now = this.#now();
    const seen = this.#live(stored, now);
    if (seen) return seen.state;
    // Nothing stored and no sweep due (a first send, the usual case): a write on the condition that
    // nothing is stored yet, which LMDB's writer checks under its lock, in every process, with no
    // callback into this thread (see `commit`). `doesExist` is the condition's own test: a value stored
    // that reads as undefined exists for it, would fail the condition every time, and goes the
    // transaction's way instead.
    if (!this.#state.dedupe.doesExist(stored) && !this.#index.isDue(now))
      return this.#leaseIfNothingStored(stored, token, leaseMs, now);
    return this.#leaseInTransaction(stored, token, leaseMs);
  }

  async #leaseIfNothingStored(
    stored: string,
    token: string,
    leaseMs: number,
    now: number,
  ): Promise<EmbeddedLeaseResult> {
    const lease = leaseMark(token, now + leaseMs);
    if (await this.#state.dedupe.ifNoExists(stored, () => void this.#put(stored, lease))) return 'acquired';
    // Another acquire (here or in another process) stored a mark first: it answers, read now that it
    // is committed; one already expired or unreadable is read again under the lock.
    return this.#live(stored)?.state ?? this.#leaseInTransaction(stored, token, leaseMs);
  }

  #leaseInTransaction(stored: string, token: string, leaseMs: number): Promise<EmbeddedLeaseResult> {
    return this.#write((now) => {
      // Read again inside the write transaction: the read above may be a moment old.
      const mark = this.#live(stored, now);
      if (mark) return mark.state;
      void this.#put(stored, leaseMark(token, now + leaseMs));
      return 'acquired';
    });
  }

  async renew(key: string, token: string, leaseMs: number): Promise<void> {
    const stored = storageKey(key);
    await this.#write((now) => {
      const mark = this.#live(stored, now);
      if (mark?.state === 'leased' && mark.token === token) void this.#put(stored, leaseMark(token, now + leaseMs));
    });
  }

  async commit(key: string, _token: string, ttlMs: number): Promise<void> {
    const stored = storageKey(key);
    const now = this.#now();
    // A commit overwrites whatever is there, so it reads nothing that must be read in its transaction
    // but the old expiry, to drop the old index line (one read a moment old leaves a stale line, which
    // a sweep drops: it keeps an entry that expires later than the line). With no sweep due either, it
    // is plain writes: LMDB's writer thread runs them without calling back into this one, which a
    // transaction's callback does (measured: about five wake-ups of the event loop a commit, not one).
    if (!this.#index.isDue(now)) await this.#put(stored, commitMark(now + ttlMs));
    else await this.#write((at) => void this.#put(stored, commitMark(at + ttlMs)));
  }

  async release(key: string, token: string): Promise<void> {
    const stored = storageKey(key);
    await this.#write((now) => {
      const mark = this.#live(stored, now);
      if (mark?.state === 'leased' && mark.token === token) this.#index.remove(stored, mark.expiresAt);
    });
  }

  /** Removes every expired mark now (writes remove some as they go); answers how many. */
  sweep(): Promise<number> {
    return this.#state.dedupe.transaction(() => this.#index.sweepAll(this.#now(), expiresAtOf));
  }

  /** Runs `change` in one write transaction, then removes some of what has expired. */
  #write<R>(change: (now: number) => R): Promise<R> {
    return this.#state.dedupe.transaction(() => {
      const now = this.#now();
      const result = change(now);
      this.#index.sweep(now, expiresAtOf);
      return result;
    });
  }

  #live(stored: string, now = this.#now()): DedupeMark | undefined {
    const mark = markOf(this.#state.dedupe.get(stored));
    return mark && mark.expiresAt > now ? mark : undefined;
  }

  #put(stored: string, mark: DedupeMark): Promise<unknown> {
    const previous = markOf(this.#state.dedupe.get(stored));
    return this.#index.put(stored, mark, mark.expiresAt, previous?.expiresAt);
  }
}
