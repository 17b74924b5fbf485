import * as t from 'io-ts';
import { ExpiryIndex } from './expiry-index.js';
import { storageKey, type StateStore } from './state-store.js';

/** The latest position delivered for an identity, as stored. */
const Delivered = t.type({ position: t.string, expiresAt: t.number });
type Delivered = t.TypeOf<typeof Delivered>;

/**
 * The audiences an identity is in, as delivered: beside its position, under `in:<identity>`, without
 * expiry (not in the expiry index; an `expiresAt` written by an older version is ignored).
 */
const AudiencesIn = t.type({ audiences: t.array(t.string) });
export const AUDIENCES = 'in:';
/** How many consent withdrawals were delivered to an identity, under `withdrawn:<identity>`, without expiry. */
const Withdrawals = t.type({ withdrawals: t.number });
export const WITHDRAWALS = 'withdrawn:';

const deliveredOf = (value: unknown): Delivered | undefined => (Delivered.is(value) ? value : undefined);
const expiresAtOf = (value: unknown): number | undefined => {
  const stored = value as { expiresAt?: unknown } | undefined;
  return deliveredOf(value)?.expiresAt ?? (typeof stored?.expiresAt === 'number' ? stored.expiresAt : undefined);
};

export interface EmbeddedDeliveryLogOptions {
  /** Orders two positions: negative if the first came before; `undefined` if they cannot be ordered. */
  readonly compare: (a: string, b: string) => number | undefined;
  /** How long a delivery is remembered (like the Redis log's key TTL): the dedupe TTL. */
  readonly ttlMs: number;
  readonly now?: () => number;
}

/**
 * The latest position delivered per identity, on disk, for a process without Redis: after a restart an
 * older update (a feed resending, a redrive) is still not sent over a newer one. Entries are forgotten
 * `ttlMs` after their last delivery; every write removes up to 100 forgotten ones (oldest first), so the
 * log holds about the identities delivered within the TTL.
 *
 * `lastDelivered` answers synchronously from a read. `recordDelivered` compares and writes in one
 * asynchronous transaction under LMDB's writer lock, so two processes recording for one identity keep
 * the later position whatever their order; it resolves once committed, so a read after it sees it.
 */
export class EmbeddedDeliveryLog {
  readonly #state: StateStore;
  readonly #index: ExpiryIndex;
  readonly #compare: EmbeddedDeliveryLogOptions['compare'];
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(state: StateStore, { compare, ttlMs, now = Date.now }: EmbeddedDeliveryLogOptions) {
    this.#state = state;
    this.#index = new ExpiryIndex(state.delivered, state.deliveredExpiry);
    this.#compare = compare;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /** Identities stored, live or forgotten but not yet swept. */
  get size(): number {
    return this.#state.delivered.getCount();
  }

  lastDelivered(identity: string): string | undefined {
    return this.#live(storageKey(identity), this.#now())?.position;
  }

  async recordDelivered(identity: string, position: string): Promise<void> {
    const stored = storageKey(identity);
    await this.#state.delivered.transaction(() => {
      const now = this.#now();
      const current = this.#live(stored, now);
      // Positions that cannot be ordered replace each other, as in the other logs.
      if (current === undefined || (this.#compare(current.position, position) ?? -1) <= 0) {
        const previous = expiresAtOf(this.#state.delivered.get(stored));
        const expiresAt = now + this.#ttlMs;
        void this.#index.put(stored, { position, expiresAt } satisfies Delivered, expiresAt, previous);
      }
      this.#index.sweep(now, expiresAtOf);
    });
  }

  audiencesIn(identity: string): readonly string[] {
    const stored = this.#state.delivered.get(storageKey(`${AUDIENCES}${identity}`));
    return AudiencesIn.is(stored) ? stored.audiences : [];
  }

  async recordAudiencesIn(identity: string, audiences: readonly string[]): Promise<void> {
    const stored = storageKey(`${AUDIENCES}${identity}`);
    await this.#state.delivered.transaction(() => {
      // Out of the expiry index, where an older version may have put it.
      this.#index.remove(stored, expiresAtOf(this.#state.delivered.get(stored)));
      if (audiences.length > 0) void this.#state.delivered.put(stored, { audiences: [...audiences] });
    });
  }

  withdrawals(identity: string): number {
    const stored = this.#state.delivered.get(storageKey(`${WITHDRAWALS}${identity}`));
    return Withdrawals.is(stored) ? stored.withdrawals : 0;
  }

  async recordWithdrawal(identity: string): Promise<void> {
    const stored = storageKey(`${WITHDRAWALS}${identity}`);
    await this.#state.delivered.transaction(() => {
      void this.#state.delivered.put(stored, { withdrawals: this.withdrawals(identity) + 1 });
    });
  }

  /** Removes every forgotten entry now (writes remove some as they go); answers how many. */
  sweep(): Promise<number> {
    return this.#state.delivered.transaction(() => this.#index.sweepAll(this.#now(), expiresAtOf));
  }

  #live(stored: string, now: number): Delivered | undefined {
    const delivered = deliveredOf(this.#state.delivered.get(stored));
    return delivered && delivered.expiresAt > now ? delivered : undefined;
  }
}
