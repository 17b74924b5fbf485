import { copyWith } from './copy-with.js';
import { isJsonObject, type Json, type JsonObject } from './json.js';

/**
 * Dotted paths (`person.name.firstName`) into profiles and payloads. A numeric segment indexes an array
 * when reading (`emails.0.address`); writing always nests objects.
 */
export type DottedPath = string;

export const segmentsOf = (path: DottedPath): string[] => path.split('.');

/** Same path, or one inside the other (`person` and `person.name`; not `person` and `personal`). */
export const overlaps = (a: DottedPath, b: DottedPath): boolean =>
  a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);

/** The value at `path`, or `undefined` when any step is missing. */
export const getPath = (value: unknown, path: DottedPath): unknown => getSegments(value, segmentsOf(path));

/** `getPath` with the path already split (`segmentsOf`), for a path read on every update. */
export const getSegments = (value: unknown, segments: readonly string[]): unknown => {
  let current: unknown = value;
  for (const segment of segments) {
    if (Array.isArray(current) && /^\d+$/.test(segment)) current = current[Number(segment)];
    else if (typeof current === 'object' && current !== null && Object.hasOwn(current, segment))
      current = (current as Record<string, unknown>)[segment];
    else return undefined;
  }
  return current;
};

/** A copy of `target` with `value` placed at `path`, creating the objects on the way. */
export const setPath = (target: JsonObject, path: DottedPath, value: Json): JsonObject =>
  setSegments(target, segmentsOf(path), value);

/**
 * `setPath` with the path already split (`segmentsOf`), for a path written on every update. Computed
 * keys make own properties, whatever the key (`__proto__` too).
 */
export const setSegments = (target: JsonObject, segments: readonly string[], value: Json, at = 0): JsonObject => {
  const head = segments[at];
  if (head === undefined) return target;
  if (at === segments.length - 1) return copyWith(target, { [head]: value });
  const existing = target[head];
  const child: JsonObject = isJsonObject(existing) ? existing : {};
  return copyWith(target, { [head]: setSegments(child, segments, value, at + 1) });
};
