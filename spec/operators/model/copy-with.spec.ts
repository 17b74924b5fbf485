import { expect } from 'chai';
import { copyWith, KEY_BY_KEY_MAX } from '../../../operators/model/copy-with.js';
import { hasFastProperties, sameHiddenClass } from '../../helpers/hidden-class.js';

describe('copyWith', () => {
  it('gives what the spread gives: keys in order, an addition replacing in place, new keys after', () => {
    const object: Record<string, unknown> = { origin: 'a', payload: { x: 1 }, receivedAt: 3 };
    const additions = { identity: 'ann', payload: { y: 2 } };
    const copy = copyWith(object, additions);
    expect(copy).to.deep.equal({ ...object, ...additions });
    expect(Object.keys(copy)).to.deep.equal(['origin', 'payload', 'receivedAt', 'identity']);
    expect(object).to.deep.equal({ origin: 'a', payload: { x: 1 }, receivedAt: 3 });
  });

  it('keeps `__proto__` an own key, as the spread does, never the prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    const copy = copyWith(parsed, JSON.parse('{"__proto__": {"b": 2}}') as Record<string, unknown>);
    expect(Object.getPrototypeOf(copy)).to.equal(Object.prototype);
    expect(Object.keys(copy)).to.deep.equal(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(copy, '__proto__')?.value).to.deep.equal({ b: 2 });
    expect(({} as { polluted?: boolean }).polluted).to.equal(undefined);
  });

  it('gives copies of objects of one shape one fast hidden class once its call site is warm', () => {
    // Node 20's V8 makes a hidden class per copy for `{ ...object, newKey }` once the site has feedback
    // (after the first few calls); the check compares the last two of many.
    const copies = Array.from({ length: 500 }, (_, n) =>
      copyWith<Record<string, unknown>>({ a: n, b: `${n}` }, { c: n }),
    );
    expect(sameHiddenClass(copies[498]!, copies[499]!)).to.equal(true);
    expect(hasFastProperties(copies[499]!)).to.equal(true);
  });

  it('spreads an object wider than it copies key by key, so that the copy is no dictionary', () => {
    // Keys set one by one past a couple of dozen may make V8 keep the copy as a dictionary.
    for (const width of [KEY_BY_KEY_MAX - 1, KEY_BY_KEY_MAX + 4, 40, 60]) {
      const wide: Record<string, unknown> = Object.fromEntries(Array.from({ length: width }, (_, i) => [`k${i}`, i]));
      const copies = Array.from({ length: 300 }, (_, n) => copyWith(wide, { extra: n }));
      expect(copies.at(-1), `${width} keys`).to.deep.equal({ ...wide, extra: 299 });
      expect(hasFastProperties(copies.at(-1)!), `${width} keys`).to.equal(true);
    }
  });
});
