/**
 * Exponential backoff with jitter for the adapters' reconnects and outage waits: a random delay in
 * [half, full] of `initialMs * 2^attempt`, capped at `maxMs`, so a fleet does not retry in step. The
 * exponent is capped too, so the arithmetic stays finite however long an outage lasts.
 */
export const backoffDelay = (
  attempt: number,
  initialMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number => {
  const full = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.round(full / 2 + (random() * full) / 2);
};
