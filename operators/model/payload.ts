import { createHash } from 'node:crypto';
import { setOwn } from './copy-with.js';
import type { Json, JsonObject } from './json.js';

/** Keys the pipeline itself fills; a mapped attribute may not land on them. */
export const RESERVED_KEYS = ['identityMap', 'segmentMembership'] as const;

/**
 * The exact bytes sent to Qualtrics: the mapped attributes in mapping order, then `identityMap`, then
 * `segmentMembership`, as on the connector page. A workflow reads fields by JSONPath, so the shape is
 * stable whatever order the operators filled it in.
 */
export const serializePayload = (payload: JsonObject): string => {
  // A loop, not `{ identityMap, segmentMembership, ...attributes }`: rest and spread copy generically,
  // and this runs for every update sent. A plain object, not one without a prototype: V8 keeps those
  // as dictionaries, which `JSON.stringify` walks slowly. An own `__proto__` key (JSON.parse makes one)
  // is copied as a key (`setOwn`), not as a prototype.
  const ordered: Record<string, Json | undefined> = {};
  for (const key of Object.keys(payload))
    if (key !== 'identityMap' && key !== 'segmentMembership') setOwn(ordered, key, payload[key]);
  ordered.identityMap = payload.identityMap;
  ordered.segmentMembership = payload.segmentMembership;
  return JSON.stringify(ordered);
};

const INSERTION_SORT_MAX = 16;

/**
 * `keys` in code-unit order, as `keys.sort()` puts them (`<` compares strings by code units too). A few
 * keys (a payload's objects have a few each) are sorted in place by insertion: `sort` allocates a work
 * area per call, a quarter of the bytes the qualified hot path allocated for fingerprints (BENCHMARKS.md,
 * "fourth session"). The order must not change: stored dedupe keys were made with it.
 */
const sortedInPlace = (keys: string[]): string[] => {
  // Insertion is quadratic: a large object (an attribute can map any JSON) gets `sort`, in the same order.
  if (keys.length > INSERTION_SORT_MAX) return keys.sort();
  for (let i = 1; i < keys.length; i += 1) {
    const key = keys[i]!;
    let at = i - 1;
    for (; at >= 0 && keys[at]! > key; at -= 1) keys[at + 1] = keys[at]!;
    keys[at + 1] = key;
  }
  return keys;
};

/** JSON text with every object's keys in code-unit order, so that key order makes no difference. */
const canonical = (value: Json): string => {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) {
    let text = '[';
    // An undefined element (or a hole) adds nothing between its commas, as `join` had it: same fingerprints.
    for (let i = 0; i < value.length; i += 1) text += (i > 0 ? ',' : '') + (canonical(value[i] as Json) ?? '');
    return `${text}]`;
  }
  const object = value as JsonObject;
  const keys = sortedInPlace(Object.keys(object));
  let text = '{';
  for (let i = 0; i < keys.length; i += 1) {
    const key = keys[i]!;
    text += `${i > 0 ? ',' : ''}${JSON.stringify(key)}:${canonical(object[key] as Json)}`;
  }
  return `${text}}`;
};

/** A content hash of a payload that does not depend on key order: "the same payload" for dedupe. */
export const fingerprint = (payload: JsonObject): string =>
  createHash('sha256').update(canonical(payload)).digest('base64url');
