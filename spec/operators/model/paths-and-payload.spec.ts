import { expect } from 'chai';
import fc from 'fast-check';
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
