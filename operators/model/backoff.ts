/** How a wait grows: from `baseMs`, doubling with each attempt, to at most `maxMs`. */
export interface BackoffPlan {
  readonly baseMs: number;
  readonly maxMs: number;
}

/**
 * Exponential backoff with jitter, the one formula every wait here uses (retries, probes, reconnects,
 * outages): a random delay between half and all of `baseMs * 2^(attempt-1)`, capped at `maxMs`, so a
 * fleet does not retry in step. `attempt` counts from 1. The exponent is capped too, so the arithmetic
 * stays finite however long an outage lasts.
 */
export const backoffMs = (
  attempt: number,
  { baseMs, maxMs }: BackoffPlan,
  random: () => number = Math.random,
): number => {
  const full = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt - 1), 30));
  return Math.round(full / 2 + (random() * full) / 2);
};

/**
 * While a store the pipeline needs (Redis, the journal) does not answer: from 250 ms, doubling, to 5 s,
 * so a store that is back is used soon and one that stays down is not hammered.
 */
export const STORE_OUTAGE_BACKOFF: BackoffPlan = { baseMs: 250, maxMs: 5_000 };
