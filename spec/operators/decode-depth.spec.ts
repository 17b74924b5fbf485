import { expect } from 'chai';
import { decode } from '../../operators/decode.js';
import { Books, messageEnvelope, testScheduler } from '../helpers/marbles.js';

/** `{a: {a: ... {}}}` with the innermost object `levels` below the top. */
const nested = (levels: number, key = 'a'): object => {
  let value: object = {};
  for (let i = 0; i < levels; i += 1) value = { [key]: value };
  return value;
};

/** Runs raw messages through `decode`; answers what passed (positions) and how the rest were settled. */
const decodeAll = (...messages: unknown[]) => {
  const scheduler = testScheduler();
  const books = new Books(scheduler);
  const passed: string[] = [];
  const profiles: unknown[] = [];
  scheduler.run(({ cold }) => {
    const letters = 'abcdefghij'.slice(0, messages.length);
    const values = Object.fromEntries(
      messages.map((m, i) => [letters[i]!, messageEnvelope(books.ledger, m, String(i + 1))]),
    );
    cold(`(${letters}|)`, values)
      .pipe(decode())
      .subscribe((e) => (passed.push(e.origin.position), profiles.push(e.profile)));
  });
  return { passed, profiles, settled: books.settled.map((s) => [s.origin.position, s.outcome]) };
};

// The depth limit on profiles (a value nested deeper overflowed the stack further on): its edges and the
// path it reports. spec/adapters/websocket/hostile-input.spec.ts drives it end to end; these pin the rule.
describe('decode: profiles nested too deep', () => {
  it('takes a profile nested exactly 99 levels, refuses one of 100, naming the first 8 steps of the path', () => {
    const { passed, settled } = decodeAll(JSON.stringify(nested(99)), JSON.stringify(nested(100)));
    expect(passed).to.deep.equal(['1']);
    expect(settled).to.deep.equal([
      [
        '2',
        {
          kind: 'excluded',
          reason: 'invalid-profile',
          detail: 'decoding profile at $.a.a.a.a.a.a.a.a...: nested deeper than 100 levels',
        },
      ],
    ]);
  });

  it('counts lists as levels, names their indexes, and cuts a long key to 60 characters', () => {
    let list: unknown = [];
    for (let i = 0; i < 100; i += 1) list = [list];
    const longKey = 'k'.repeat(70);
    const { settled } = decodeAll(
      JSON.stringify({ list: (list as unknown[])[0] }),
      JSON.stringify(nested(100, longKey)),
    );
    expect(settled.map(([, outcome]) => (outcome as { detail: string }).detail)).to.deep.equal([
      'decoding profile at $.list[0][0][0][0][0][0][0]...: nested deeper than 100 levels',
      `decoding profile at ${`$${`.${'k'.repeat(60)}`.repeat(8)}`}...: nested deeper than 100 levels`,
    ]);
  });

  it('checks each profile of an array message on its own, from its own root', () => {
    const { passed, settled } = decodeAll(JSON.stringify([{}, nested(100), {}]));
    expect(passed).to.deep.equal(['1#0', '1#2']);
    expect(settled).to.deep.equal([
      [
        '1#1',
        {
          kind: 'excluded',
          reason: 'invalid-profile',
          detail: 'decoding profile at $[1].a.a.a.a.a.a.a.a...: nested deeper than 100 levels',
        },
      ],
    ]);
  });

  it('does not count plain values as levels: long flat lists and strings pass', () => {
    const { passed } = decodeAll(
      JSON.stringify({ many: Array.from({ length: 500 }, (_, i) => i), text: 'x'.repeat(10_000) }),
    );
    expect(passed).to.deep.equal(['1']);
  });
});

describe('decode: message shapes', () => {
  it('reads an ArrayBuffer and a list of Buffers (a fragmented frame) as text, other lists as profiles', () => {
    const text = JSON.stringify({ identityMap: {} });
    const arrayBuffer = new Uint8Array(Buffer.from(text)).buffer;
    const fragments = [Buffer.from(text.slice(0, 5)), Buffer.from(text.slice(5))];
    const { passed, profiles, settled } = decodeAll(arrayBuffer, fragments, [Buffer.from(text), 'text']);
    expect(passed).to.include.members(['1', '2']);
    // Read as the text they hold, not taken for profiles themselves.
    expect(profiles.slice(0, 2)).to.deep.equal([{ identityMap: {} }, { identityMap: {} }]);
    // A list holding a string is not a fragmented frame: its parts are decoded one by one, nothing breaks.
    expect(settled.map(([position, outcome]) => [position, (outcome as { reason: string }).reason])).to.deep.equal([
      ['3#1', 'invalid-profile'],
    ]);
  });

  it('says why an empty list is excluded', () => {
    expect(decodeAll('[]').settled).to.deep.equal([
      ['1', { kind: 'excluded', reason: 'empty-message', detail: 'decoding message: an empty list holds no profile' }],
    ]);
  });
});
