import { expect } from 'chai';
import { copyWith } from '../../../operators/model/copy-with.js';
import { sameHiddenClass } from '../../helpers/hidden-class.js';

describe('copyWith', () => {
  it('gives what the spread gives: keys in order, an addition replacing in place, new keys after', () => {
    const object = { origin: 'a', payload: { x: 1 }, receivedAt: 3 };
    const additions = { identity: 'ann', payload: { y: 2 } };
    const copy = copyWith(object, additions);
    expect(copy).to.deep.equal({ ...object, ...additions });
    expect(Object.keys(copy)).to.deep.equal(['origin', 'payload', 'receivedAt', 'identity']);
    expect(object).to.deep.equal({ origin: 'a', payload: { x: 1 }, receivedAt: 3 });
  });

  it('keeps `__proto__` an own key, as the spread does, never the prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as object;
    const copy = copyWith(parsed, JSON.parse('{"__proto__": {"b": 2}}') as object);
    expect(Object.getPrototypeOf(copy)).to.equal(Object.prototype);
    expect(Object.keys(copy)).to.deep.equal(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(copy, '__proto__')?.value).to.deep.equal({ b: 2 });
    expect(({} as { polluted?: boolean }).polluted).to.equal(undefined);
  });

  it('gives copies of objects of one shape one hidden class once its call site is warm', () => {
    // Node 20's V8 makes a hidden class per copy for `{ ...object, newKey }` once the site has feedback
    // (after the first few calls); the check compares the last two of many.
    const copies = Array.from({ length: 500 }, (_, n) => copyWith({ a: n, b: `${n}` }, { c: n }));
    expect(sameHiddenClass(copies[498]!, copies[499]!)).to.equal(true);
  });
});
