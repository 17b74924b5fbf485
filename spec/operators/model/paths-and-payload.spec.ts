import { expect } from 'chai';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import type { Json, JsonObject } from '../../../operators/model/json.js';
import { getPath, setPath } from '../../../operators/model/paths.js';
import { fingerprint, serializePayload } from '../../../operators/model/payload.js';

describe('paths', () => {
  it('read nested values and array elements, and nothing inherited', () => {
    const value = { a: { b: [{ c: 1 }, { c: 2 }] }, n: null };
    expect(getPath(value, 'a.b.1.c')).to.equal(2);
    expect(getPath(value, 'n')).to.equal(null);
    expect(getPath(value, 'n.x')).to.equal(undefined);
    expect(getPath(value, 'a.missing.c')).to.equal(undefined);
    expect(getPath(value, 'a.toString')).to.equal(undefined);
  });

  it('write nested values without changing the original', () => {
    const original: JsonObject = { a: { keep: 1 } };
    const written = setPath(original, 'a.b.c', 'x');
    expect(written).to.deep.equal({ a: { keep: 1, b: { c: 'x' } } });
    expect(original).to.deep.equal({ a: { keep: 1 } });
  });
});

describe('payload', () => {
  it('serializes attributes first, then identityMap, then segmentMembership', () => {
    const payload: JsonObject = { segmentMembership: { ups: {} }, identityMap: { Email: [] }, b: 1, a: 2 };
    expect(serializePayload(payload)).to.equal(
      '{"b":1,"a":2,"identityMap":{"Email":[]},"segmentMembership":{"ups":{}}}',
    );
  });

  it('keeps an own __proto__ key as a key, and fingerprints an undefined element or a hole as before', () => {
    const parsed = JSON.parse('{"segmentMembership":{},"__proto__":{"x":1},"b":2}') as JsonObject;
    expect(serializePayload(parsed)).to.equal('{"__proto__":{"x":1},"b":2,"segmentMembership":{}}');
    // Dedupe keys already stored were made from `[1,,2]` (an element that is not JSON adds nothing).
    const stored = createHash('sha256').update('{"a":[1,,2]}').digest('base64url');
    expect(fingerprint({ a: [1, undefined, 2] } as unknown as JsonObject)).to.equal(stored);
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is tested
    expect(fingerprint({ a: [1, , 2] } as unknown as JsonObject)).to.equal(stored);
  });

  it('fingerprints as the canonical text with keys in `sort` order, as stored dedupe keys were made', () => {
    // The reference: every object's keys by `Array.prototype.sort`, arrays' holes as nothing.
    const reference = (value: unknown): string => {
      if (typeof value !== 'object' || value === null) return JSON.stringify(value);
      if (Array.isArray(value)) return `[${value.map((item) => reference(item) ?? '').join(',')}]`;
      const object = value as Record<string, unknown>;
      const keys = Object.keys(object).sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${reference(object[key])}`).join(',')}}`;
    };
    const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');
    // Keys of any code units: lone surrogates and the private-use range above them (where code-unit and
    // code-point order part), astral characters, digits that read as array indices (listed first).
    const codeUnit = fc.oneof(
      fc.integer({ min: 0xd800, max: 0xdfff }),
      fc.integer({ min: 0xe000, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffff }),
    );
    const key = fc.oneof(
      fc.array(codeUnit, { maxLength: 4 }).map((units) => String.fromCharCode(...units)),
      fc.string({ unit: 'binary' }),
      fc.nat({ max: 30 }).map(String),
    );
    // Up to 40 keys: both the small objects sorted by insertion and the larger ones sorted by `sort`.
    fc.assert(
      fc.property(fc.dictionary(key, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 40 }), (object) => {
        expect(fingerprint(object as JsonObject)).to.equal(sha256(reference(object)));
      }),
      { numRuns: 300 },
    );
    const fixed = ['\uE000', '\u{10000}', '\uD800', '\uDC00', '', '10', '9', 'a', 'B', '\uFFFF'];
    const object = Object.fromEntries(fixed.map((k, i) => [k, i]));
    expect(fingerprint(object)).to.equal(sha256(reference(object)));
  });

  it('fingerprints by content, whatever the key order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (object) => {
        const reversed = Object.fromEntries(Object.entries(object).reverse()) as JsonObject;
        expect(fingerprint(object as JsonObject)).to.equal(fingerprint(reversed));
      }),
    );
    expect(fingerprint({ a: 1 })).not.to.equal(fingerprint({ a: 2 }));
    expect(fingerprint({ a: [1, 2] as Json })).not.to.equal(fingerprint({ a: [2, 1] as Json }));
  });
});
