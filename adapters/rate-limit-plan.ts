/**
 * The numbers behind both rate limiters (in memory and in Redis), so they behave the same.
 *
 * - The window is `perSeconds` plus a margin (2 %, at least 50 ms): requests are counted when sent but
 *   the destination counts them when they arrive, and arrival times jitter.
 * - Requests are paced evenly at window / limit, with a burst of 1/60 of the limit (at least 1), so
 *   3,000 a minute goes out as about 50 a second, the way a leaky bucket at the destination drains.
 * - A 429 multiplies the limit by 0.7 (at most once a second, never below 10 %); each `recoveryMs`
 *   without a new 429 gives back 10 % of the limit.
 */
export interface RateLimitPlan {
  readonly requests: number;
  readonly windowMs: number;
  readonly burst: number;
  readonly recoveryMs: number;
  readonly recoveryStep: number;
  readonly slowdownFactor: number;
  readonly minFactor: number;
  readonly slowdownEveryMs: number;
}

export const windowPlan = (requests: number, perSeconds: number): RateLimitPlan => {
  const baseMs = perSeconds * 1000;
  return {
    requests,
    windowMs: baseMs + Math.max(50, Math.ceil(baseMs * 0.02)),
    burst: Math.max(1, Math.floor(requests / 60)),
    recoveryMs: Math.max(1000, Math.ceil(baseMs / 6)),
    recoveryStep: 0.1,
    slowdownFactor: 0.7,
    minFactor: 0.1,
    slowdownEveryMs: 1000,
  };
};

/** The slowdown after a 429 at `now`, given the factor in use and when the last slowdown was. */
export const slowedFactor = (
  current: number,
  lastAt: number,
  now: number,
  plan: RateLimitPlan,
): { factor: number; at: number } =>
  now - lastAt < plan.slowdownEveryMs
    ? { factor: current, at: lastAt }
    : { factor: Math.max(plan.minFactor, current * plan.slowdownFactor), at: now };

/**
 * Where the pace goes on from after a grant at `now`, when the grant was due at `due`: from `due` when
 * the grant came less than one `interval` late (a timer that woke a little late, a round trip to Redis),
 * so that such lateness is made up rather than added to every interval (it cost 2 to 4 % of the limit
 * at 50 a second); from `now` after a longer idle spell, which is never banked beyond that. The sliding
 * log still holds every window to the limit. The Redis script does the same.
 */
export const onSchedule = (due: number, now: number, interval: number): number => (now - due < interval ? due : now);
