import { expect } from 'chai';
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import {
  DecodeError,
  decodeOrThrow,
  describe as describeValue,
  distinctBy,
  integerIn,
  nonEmptyArray,
  NonEmptyString,
  oneOf,
  pick,
  refine,
  struct,
  unionBy,
  withDefault,
  withMessage,
} from '../../../operators/model/codecs.js';
import { formatErrors } from '../../../operators/model/decode-errors.js';

const problemsOf = (codec: t.Decoder<unknown, unknown>, value: unknown): string[] => {
  const decoded = codec.decode(value);
  return isLeft(decoded) ? formatErrors(decoded.left) : [];
};

const Inner = struct('Inner', { id: NonEmptyString }, { note: t.string });
const Outer = struct(
  'Outer',
  { items: nonEmptyArray(Inner), mode: withDefault(t.keyof({ a: null, b: null }), 'a') },
  { map: t.record(t.string, t.number) },
);

describe('codecs and error paths', () => {
  it('decode a valid value and fill defaults', () => {
    expect(decodeOrThrow(Outer, { items: [{ id: 'x' }] })).to.deep.equal({ items: [{ id: 'x' }], mode: 'a' });
  });

  it('answer the value itself when every key decodes to what it holds, else a copy (the input unchanged)', () => {
    // What a profile costs to decode: no copy of an object that decoding leaves as it is.
    const Decoded = struct('Decoded', { id: t.string, mode: withDefault(t.string, 'a') }, { note: t.string });
    const complete = { id: 'x', mode: 'b', note: 'n' };
    expect(decodeOrThrow(Decoded, complete)).to.equal(complete);
    const withoutMode = { id: 'x' };
    const filled = decodeOrThrow(Decoded, withoutMode);
    expect(filled).to.deep.equal({ id: 'x', mode: 'a' });
    expect(withoutMode).to.deep.equal({ id: 'x' });
    // Nested the same way: only the objects on the path to a change are copied.
    const nested = { items: [{ id: 'x' }], mode: 'b' };
    expect(decodeOrThrow(Outer, nested)).to.equal(nested);
  });

  it('report unknown keys, missing keys and wrong types with their paths, all at once', () => {
    expect(
      problemsOf(Outer, {
        items: [{ id: 'x' }, { note: 1, idd: 'y' }],
        mode: 'c',
        extra: true,
        map: { 'odd key': 'x' },
      }),
    ).to.deep.equal([
      'items[1].id: missing (expected a non-empty string)',
      'items[1].note: expected string, got 1',
      'items[1].idd: unknown key (expected one of: id, note); did you mean "id"?',
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
    const Range = refine(struct('Range', { from: t.number, to: t.number }), (r) =>
      r.from > r.to ? [{ path: ['to'], message: 'must not be before from' }] : [],
    );
    const Holder = struct('Holder', { ranges: t.array(Range) });
    expect(
      problemsOf(Holder, {
        ranges: [
          { from: 1, to: 2 },
          { from: 3, to: 1 },
        ],
      }),
    ).to.deep.equal(['ranges[1].to: must not be before from']);
  });

  it('describe bad values briefly', () => {
    expect(describeValue(undefined)).to.equal('nothing');
    expect(describeValue([1, 2])).to.equal('a list of 2');
    expect(describeValue({ a: 1 })).to.equal('an object');
    expect(describeValue('x'.repeat(100))).to.have.length(60);
  });

  // `is` and `encode` are what io-ts combinators (unions, arrays of these) call on them: each must agree
  // with `decode`, not only decode alone.
  describe('is and encode agree with decode', () => {
    it('NonEmptyString and withMessage', () => {
      expect([
        NonEmptyString.is('x'),
        NonEmptyString.is(' '),
        NonEmptyString.is(''),
        NonEmptyString.is(3),
      ]).to.deep.equal([true, false, false, false]);
      expect(problemsOf(NonEmptyString, '  ')).to.deep.equal(['(top level): expected a non-empty string, got "  "']);
      expect(problemsOf(NonEmptyString, undefined)).to.deep.equal([
        '(top level): missing (expected a non-empty string)',
      ]);
      const Shown = withMessage(t.number, 'a count', () => 'something else');
      expect(problemsOf(Shown, 'x')).to.deep.equal(['(top level): expected a count, got something else']);
      expect(Shown.name).to.equal('number');
      expect(Shown.encode(3)).to.equal(3);
      expect(NonEmptyString.encode(decodeOrThrow(NonEmptyString, 'y'))).to.equal('y');
    });

    it('withDefault', () => {
      const Mode = withDefault(t.keyof({ a: null }), 'a');
      expect([Mode.is('a'), Mode.is('b'), Mode.is(undefined)]).to.deep.equal([true, false, false]);
      expect(Mode.encode('a')).to.equal('a');
      expect(Mode.name).to.equal('"a"');
    });

    it('nonEmptyArray', () => {
      const List = nonEmptyArray(t.number);
      expect(List.name).to.equal('non-empty list of number');
      expect(nonEmptyArray(t.number, 'numbers').name).to.equal('numbers');
      expect([List.is([1]), List.is([]), List.is(['x']), List.is('x')]).to.deep.equal([true, false, false, false]);
      expect(List.encode([1, 2])).to.deep.equal([1, 2]);
      expect(problemsOf(List, ['x'])).to.deep.equal(['[0]: expected number, got "x"']);
    });

    it('integerIn', () => {
      const Small = integerIn(1, 3);
      expect(Small.name).to.equal('integer from 1 to 3');
      expect([0, 1, 2, 3, 4, 1.5, '2'].map((u) => Small.is(u))).to.deep.equal([
        false,
        true,
        true,
        true,
        false,
        false,
        false,
      ]);
      expect([0, 1, 3, 4].map((u) => problemsOf(Small, u).length)).to.deep.equal([1, 0, 0, 1]);
      expect(problemsOf(Small, 4)).to.deep.equal(['(top level): expected an integer from 1 to 3, got 4']);
    });

    it('struct, closed and open', () => {
      expect([
        Inner.is({ id: 'x' }),
        Inner.is({ id: '' }),
        Inner.is({ id: 'x', other: 1 }),
        Inner.is('x'),
      ]).to.deep.equal([true, false, false, false]);
      expect(Inner.encode({ id: decodeOrThrow(NonEmptyString, 'x') })).to.deep.equal({ id: 'x' });
      // Missing where a key holds it; at the top level, named.
      expect(problemsOf(struct('Holder', { inner: Inner }), {})).to.deep.equal(['inner: missing']);
      expect(problemsOf(Inner, undefined)).to.deep.equal(['(top level): expected an object (Inner), got nothing']);
      // An optional key present as undefined is left out, not decoded.
      expect(decodeOrThrow(Inner, { id: 'x', note: undefined })).to.deep.equal({ id: 'x', note: undefined });
      expect(decodeOrThrow(struct('D', {}, { n: withDefault(t.number, 5) }), {})).to.deep.equal({});
    });

    it('refine, with problems at a path into lists and missing values', () => {
      const Pair = refine(t.array(t.number), (list) =>
        list.length === 2 ? [] : [{ path: [5, 'x'], message: 'expected a pair' }],
      );
      expect([Pair.is([1, 2]), Pair.is([1]), Pair.is(['a', 'b'])]).to.deep.equal([true, false, false]);
      expect(Pair.encode([1, 2])).to.deep.equal([1, 2]);
      expect(problemsOf(Pair, [1])).to.deep.equal(['[5].x: expected a pair']);
      const decoded = Pair.decode([1]);
      expect(isLeft(decoded) && decoded.left[0]!.value).to.equal(undefined);
      const Named = refine(struct('Named', { list: t.array(t.string) }), () => [{ path: ['list', 0], message: 'bad' }]);
      const named = Named.decode({ list: ['first'] });
      expect(isLeft(named) && named.left[0]!.value).to.equal('first');
    });

    it('distinctBy names every repeat after the first, by its index', () => {
      const check = distinctBy((item: { id: string }) => item.id, 'audience');
      expect(check([{ id: 'a' }, { id: 'b' }, { id: 'a' }, { id: 'a' }])).to.deep.equal([
        { path: [2], message: 'audience "a" is listed twice' },
        { path: [3], message: 'audience "a" is listed twice' },
      ]);
      expect(check([{ id: 'a' }, { id: 'b' }])).to.deep.equal([]);
    });

    it('decodeOrThrow throws a DecodeError naming what and every problem', () => {
      try {
        decodeOrThrow(Inner, { note: 1 }, 'the inner thing');
        expect.fail('expected a DecodeError');
      } catch (error) {
        expect(error).to.be.instanceOf(DecodeError);
        expect(error).to.include({ name: 'DecodeError', what: 'the inner thing' });
        expect((error as DecodeError).problems).to.deep.equal([
          'id: missing (expected a non-empty string)',
          'note: expected string, got 1',
        ]);
        expect((error as Error).message).to.equal(
          'the inner thing: id: missing (expected a non-empty string); note: expected string, got 1',
        );
      }
      expect(() => decodeOrThrow(Inner, 3)).to.throw(DecodeError, /^Inner: /);
    });
  });

  describe('oneOf: exactly one of several keys', () => {
    const Source = oneOf('Source', {
      websocket: struct('WebSocket', { url: t.string }),
      redisStream: struct('RedisStream', { stream: t.string }),
    });
    const Config = struct('Config', { source: Source });

    it('decodes the one key set, to that key alone (a key set to undefined is not set)', () => {
      expect(decodeOrThrow(Source, { websocket: { url: 'wss://x' }, redisStream: undefined })).to.deep.equal({
        websocket: { url: 'wss://x' },
      });
      expect(problemsOf(Source, { redisStream: { stream: 1 } })).to.deep.equal([
        'redisStream.stream: expected string, got 1',
      ]);
    });

    it('refuses none, two, unknown keys and a value that is no object, naming the keys', () => {
      expect(problemsOf(Source, {})).to.deep.equal(['(top level): set exactly one of websocket or redisStream']);
      expect(problemsOf(Source, { websocket: { url: 'a' }, redisStream: { stream: 'b' } })).to.deep.equal([
        '(top level): set exactly one of websocket or redisStream',
      ]);
      expect(problemsOf(Source, { websocket: { url: 'a' }, kafka: 1, nats: 2 })).to.deep.equal([
        'kafka: unknown key (expected one of: websocket, redisStream)',
        'nats: unknown key (expected one of: websocket, redisStream)',
      ]);
      expect(problemsOf(Source, 'ws')).to.deep.equal(['(top level): expected an object (Source), got "ws"']);
      expect(problemsOf(Source, undefined)).to.deep.equal(['(top level): expected an object (Source), got nothing']);
      // Left out where a larger codec wants it: what to set, not "expected an object".
      expect(problemsOf(Config, {})).to.deep.equal(['source: missing (set websocket or redisStream)']);
      expect(problemsOf(Config, { source: null })).to.deep.equal(['source: expected an object (Source), got null']);
    });

    it('is agrees with decode', () => {
      expect([
        Source.is({ websocket: { url: 'a' } }),
        Source.is({}),
        Source.is({ websocket: { url: 1 } }),
        Source.is(undefined),
      ]).to.deep.equal([true, false, false, false]);
    });
  });

  describe('unionBy: the branch chosen by looking at the input', () => {
    const Listen = struct('Listen', { listen: t.number });
    const Client = struct('Client', { url: t.string });
    const Socket = unionBy('Socket', [Listen, Client], (u) =>
      'listen' in u ? Listen : 'url' in u ? Client : [{ path: ['url'], message: 'set url, or listen for a server' }],
    );
    const Config = struct('Config', { socket: Socket });

    it("decodes with the chosen member, reporting that member's problems only", () => {
      expect(decodeOrThrow(Socket, { listen: 8080 })).to.deep.equal({ listen: 8080 });
      expect(decodeOrThrow(Socket, { url: 'wss://x' })).to.deep.equal({ url: 'wss://x' });
      expect(problemsOf(Socket, { listen: 'x' })).to.deep.equal(['listen: expected number, got "x"']);
    });

    it("reports choose's problems at their paths, a missing value, and a value that is no object", () => {
      expect(problemsOf(Socket, {})).to.deep.equal(['url: set url, or listen for a server']);
      expect(problemsOf(Config, { socket: {} })).to.deep.equal(['socket.url: set url, or listen for a server']);
      expect(problemsOf(Config, {})).to.deep.equal(['socket: missing']);
      expect(problemsOf(Config, { socket: 3 })).to.deep.equal(['socket: expected an object (Socket), got 3']);
      expect(problemsOf(Socket, 3)).to.deep.equal(['(top level): expected an object (Socket), got 3']);
      expect(problemsOf(Socket, undefined)).to.deep.equal(['(top level): expected an object (Socket), got nothing']);
    });

    it('throws when choose returns a codec that is not a member (a programming error)', () => {
      // The types forbid it; plain JavaScript (or a cast) does not.
      const Broken = unionBy('Broken', [Listen], () => Client as unknown as typeof Listen);
      expect(() => Broken.decode({ url: 'x' })).to.throw(
        Error,
        /^Broken: choose returned a codec that is not a member$/,
      );
    });

    it('is agrees with decode', () => {
      expect([Socket.is({ listen: 1 }), Socket.is({}), Socket.is({ listen: 'x' }), Socket.is(null)]).to.deep.equal([
        true,
        false,
        false,
        false,
      ]);
    });
  });

  it('pick takes the keys a struct describes and that are set, nothing else', () => {
    const Section = struct('Section', { id: t.string }, { note: t.string });
    const value = { id: 'x', other: 1 } as unknown as t.TypeOf<typeof Section>;
    expect(pick(Section, value)).to.deep.equal({ id: 'x' });
    expect(Object.keys(pick(Section, { id: 'x', note: 'n' }))).to.deep.equal(['id', 'note']);
  });
});
