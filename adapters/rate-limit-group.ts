import { thenMaybe, type MaybePromise, type RateLimiter, type Reservation } from '../operators/model/ports.js';

/** How long a flow that was told to wait still counts as waiting, if it does not ask again. */
const CONTENDING_MS = 5_000;

interface Member {
  readonly share: number;
  /** Its place in the turn order: grants so far, each worth 1/share (start-time fair queueing). */
  tag: number;
  /** Told to wait and not granted since. */
  waiting: boolean;
  /** When it last asked (-Infinity: never). */
  askedAt: number;
}

export interface RateLimitGroupOptions {
  /** The group's one limiter (in memory, or in Redis shared by every process of the brand). */
  readonly limiter: RateLimiter;
  /** The wait to suggest to a flow that must let another go first: about one request's pace. */
  readonly turnMs: number;
  readonly now?: () => number;
}

/**
 * One rate limit shared by several flows (a brand's 3,000 requests a minute), taken in fair turns. A
 * flow may take a grant only when no other waiting flow is behind it in the turn order; each grant
 * moves a flow on by 1/share, so while several flows have updates waiting, their requests go in the
 * proportion of their shares, and a flow with a large backlog cannot starve one with a small backlog.
 * A flow that stops asking stops counting as waiting after a few seconds, and one that comes back
 * starts level with the others, not with credit saved up. Within one process; across processes the
 * shared limiter itself holds the sum under the limit.
 */
export class RateLimitGroup {
  readonly #members = new Map<string, Member>();
  /** Where the turn order stands: the place of the latest grant. A flow coming back starts here. */
  #virtualTime = 0;
  readonly #limiter: RateLimiter;
  readonly #turnMs: number;
  readonly #now: () => number;

  constructor({ limiter, turnMs, now = Date.now }: RateLimitGroupOptions) {
    this.#limiter = limiter;
    this.#turnMs = turnMs;
    this.#now = now;
  }

  /** The limiter one flow uses: its turns in this group, with `share` as its weight. */
  member(flow: string, share = 1): RateLimiter {
    if (this.#members.has(flow)) throw new Error(`flow ${JSON.stringify(flow)} is already in this rate-limit group`);
    const member: Member = { share, tag: 0, waiting: false, askedAt: Number.NEGATIVE_INFINITY };
    this.#members.set(flow, member);
    return {
      reserve: () => this.#reserve(member),
      slowDown: () => this.#limiter.slowDown(),
    };
  }

  #reserve(member: Member): MaybePromise<Reservation> {
    const now = this.#now();
    const contending = [...this.#members.values()].filter(
      (other) => other !== member && other.waiting && now - other.askedAt < CONTENDING_MS,
    );
    // Back after a pause: start where the turn order stands, so turns are not saved up while idle.
    if (now - member.askedAt >= CONTENDING_MS) member.tag = Math.max(member.tag, this.#virtualTime);
    member.askedAt = now;
    if (contending.some((other) => other.tag < member.tag)) return this.#wait(member, this.#turnMs);
    return thenMaybe(this.#limiter.reserve(), (reservation) => this.#answered(member, reservation));
  }

  /** A grant moves its flow on in the turn order; anything else is a wait. */
  #answered(member: Member, reservation: Reservation): Reservation {
    if (!reservation.granted) return this.#wait(member, reservation.waitMs);
    this.#virtualTime = Math.max(this.#virtualTime, member.tag);
    member.tag += 1 / member.share;
    member.waiting = false;
    return reservation;
  }

  #wait(member: Member, ms: number): Reservation {
    member.waiting = true;
    return { granted: false, waitMs: ms };
  }
}
