import { expect } from 'chai';
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { decodeOrThrow, describe as describeValue, nonEmptyArray, NonEmptyString, refine, struct, withDefault } from '../../../operators/model/codecs.js';
import { formatErrors } from '../../../operators/model/decode-errors.js';

const problemsOf = (codec: t.Decoder<unknown, unknown>, value: unknown): string[] => {
  const decoded = codec.decode(value);
  return isLeft(decoded) ? formatErrors(decoded.left) : [];
};

const Inner = struct('Inner', { id: NonEmptyString }, { note: t.string });
const Outer = struct('Outer', { items: nonEmptyArray(Inner), mode: withDefault(t.keyof({ a: null, b: null }), 'a') }, { map: t.record(t.string, t.number) });

describe('codecs and error paths', () => {
  it('decode a valid value and fill defaults', () => {
    expect(decodeOrThrow(Outer, { items: [{ id: 'x' }] })).to.deep.equal({ items: [{ id: 'x' }], mode: 'a' });
  });

  it('report unknown keys, missing keys and wrong types with their paths, all at once', () => {
    expect(problemsOf(Outer, { items: [{ id: 'x' }, { note: 1, idd: 'y' }], mode: 'c', extra: true, map: { 'odd key': 'x' } })).to.deep.equal([
      'items[1].id: missing (expected a non-empty string)',
      'items[1].note: expected string, got 1',
      'items[1].idd: unknown key (expected one of: id, note)',
      'mode: expected "a" | "b", got "c"',
      'map["odd key"]: expected number, got "x"',
      'extra: unknown key (expected one of: items, mode, map)',
    ]);
  });

  it('report a wrong top level as such', () => {
    expect(problemsOf(Outer, 'text')).to.deep.equal(['(top level): expected an object (Outer), got "text"']);
    expect(problemsOf(Outer, { items: [] })).to.deep.equal(['items: expected at least one entry, got an empty list']);
  });

  it('keep unknown keys of an open struct', () => {
    const Open = struct('Open', { id: t.string }, {}, { open: true });
    expect(decodeOrThrow(Open, { id: 'x', more: [1] })).to.deep.equal({ id: 'x', more: [1] });
  });

  it('report cross-field problems at their own paths', () => {
    const Range = refine(struct('Range', { from: t.number, to: t.number }), (r) => (r.from > r.to ? [{ path: ['to'], message: 'must not be before from' }] : []));
    const Holder = struct('Holder', { ranges: t.array(Range) });
    expect(problemsOf(Holder, { ranges: [{ from: 1, to: 2 }, { from: 3, to: 1 }] })).to.deep.equal(['ranges[1].to: must not be before from']);
  });

  it('describe bad values briefly', () => {
    expect(describeValue(undefined)).to.equal('nothing');
    expect(describeValue([1, 2])).to.equal('a list of 2');
    expect(describeValue({ a: 1 })).to.equal('an object');
    expect(describeValue('x'.repeat(100))).to.have.length(60);
  });
});
