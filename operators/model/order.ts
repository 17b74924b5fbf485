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

/** The sources whose positions are entry ids of a Redis stream: `redis:<key>`, `journal:<key>`, `replay:<key>`. */
const STREAM_SOURCE = /^(?:redis|journal|replay):(.+)$/;

/**
 * Where an update stands in its stream (`<stream>@<id>`), for the stale-update rule; undefined for an
 * update from no stream. Ids of one stream come from one clock (the Redis server's) whoever reads them;
 * positions a process numbers itself (a plain WebSocket) come from its own clock, which no other
 * process shares, so they are never compared across processes.
 */
export const streamPositionOf = (origin: {
  readonly source: string;
  readonly position: string;
}): string | undefined => {
  const stream = STREAM_SOURCE.exec(origin.source)?.[1];
  return stream !== undefined && isOrdered(origin.position) ? `${stream}@${origin.position}` : undefined;
};

/** Orders two stream positions of the same stream; `undefined` for different streams or other shapes. */
export const compareStreamPositions = (a: string, b: string): number | undefined => {
  const at = (position: string): [string, string] | undefined => {
    const split = position.lastIndexOf('@');
    return split < 0 ? undefined : [position.slice(0, split), position.slice(split + 1)];
  };
  const [pa, pb] = [at(a), at(b)];
  if (!pa || !pb || pa[0] !== pb[0]) return undefined;
  return compareOrder(pa[1], pb[1]);
};

/** When a stream position's entry was added (its id's milliseconds); undefined for other shapes. */
export const millisOf = (streamPosition: string): number | undefined => {
  const id = streamPosition.slice(streamPosition.lastIndexOf('@') + 1);
  const match = POSITION.exec(id);
  return match ? Number(match[1]) : undefined;
};
