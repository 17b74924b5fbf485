import { createHash } from 'node:crypto';
import type { Json, JsonObject } from './json.js';

/** Keys the pipeline itself fills; a mapped attribute may not land on them. */
export const RESERVED_KEYS = ['identityMap', 'segmentMembership'] as const;

/**
 * The exact bytes sent to Qualtrics: the mapped attributes in mapping order, then `identityMap`, then
 * `segmentMembership`, as on the connector page. A workflow reads fields by JSONPath, so the shape is
 * stable whatever order the operators filled it in.
 */
export const serializePayload = (payload: JsonObject): string => {
  const { identityMap, segmentMembership, ...attributes } = payload;
  return JSON.stringify({ ...attributes, identityMap, segmentMembership });
};

const canonical = (value: Json): string => {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const object = value as JsonObject;
    const keys = Object.keys(object).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonical(object[key] as Json)}`).join(',')}}`;
  }
  return JSON.stringify(value);
};

/** A content hash of a payload that does not depend on key order: "the same payload" for dedupe. */
export const fingerprint = (payload: JsonObject): string =>
  createHash('sha256').update(canonical(payload)).digest('base64url');
