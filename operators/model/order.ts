/**
 * Positions say which of two updates came first. Redis stream ids (`1732860000000-5`) are compared as
 * (milliseconds, sequence); sources without one make positions of the same shape from their clock and
 * a counter, and a message split into parts adds `#part`. A position of any other shape has no order:
 * `compareOrder` answers `undefined` and the stale-update rule does not apply to it.
 */

const POSITION = /^(\d+)-(\d+)(?:#(\d+))?$/;

type Parsed = readonly [bigint, bigint, bigint];

const parse = (position: string): Parsed | undefined => {
  const match = POSITION.exec(position);
  if (!match) return undefined;
  return [BigInt(match[1]!), BigInt(match[2]!), BigInt(match[3] ?? -1)];
};

/** Negative if `a` came before `b`, positive if after, 0 if the same; `undefined` if either has no order. */
export const compareOrder = (a: string, b: string): number | undefined => {
  const pa = parse(a);
  const pb = parse(b);
  if (!pa || !pb) return undefined;
  for (let i = 0; i < 3; i++) {
    if (pa[i]! !== pb[i]!) return pa[i]! < pb[i]! ? -1 : 1;
  }
  return 0;
};

export const isOrdered = (position: string): boolean => POSITION.test(position);

/**
 * Positions for a source that has none of its own: `<ms>-<seq>`, increasing even if the clock steps
 * back, so updates of one process compare in arrival order and later processes' updates sort after.
 */
export const positionCounter = (now: () => number = Date.now): (() => string) => {
  let lastMs = 0;
  let sequence = 0;
  return () => {
    const ms = Math.max(now(), lastMs);
    sequence = ms === lastMs ? sequence + 1 : 0;
    lastMs = ms;
    return `${ms}-${sequence}`;
  };
};
