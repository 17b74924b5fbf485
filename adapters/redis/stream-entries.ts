/** A stream entry as ioredis returns it: `[id, [field, value, field, value, ...]]`. */
export type RawEntry = [id: string, fields: string[]];

/** The value of `field` in an entry, or undefined when the entry has no such field. */
export const fieldOf = (fields: readonly string[], field: string): string | undefined => {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === field) return fields[i + 1];
  return undefined;
};

/** The id right after `id` (`5-3` -> `5-4`): an exclusive start for XRANGE, or a MINID that keeps later entries. */
export const nextId = (id: string): string => {
  const [ms, seq] = id.split('-');
  return `${ms}-${BigInt(seq ?? '0') + 1n}`;
};

/** Milliseconds of a stream id. */
export const idTime = (id: string): number => Number(id.split('-')[0]);
