import { expect } from 'chai';
import { identityKey } from '../../../operators/model/envelope.js';
import { Ledger } from '../../../operators/model/ledger.js';
import { decodeOrThrow, NonEmptyString, struct } from '../../../operators/model/codecs.js';
import { compareOrder, isOrdered } from '../../../operators/model/order.js';
import { duplicate, excluded, failed, httpReason } from '../../../operators/model/outcome.js';
import { getPath, setPath } from '../../../operators/model/paths.js';
import { fingerprint } from '../../../operators/model/payload.js';
import { Profile } from '../../../operators/model/profile.js';
import { Ticket, TicketError } from '../../../operators/model/ticket.js';
import { describe as describeValue, formatErrors, pathOf } from '../../../operators/model/decode-errors.js';
import { map } from 'rxjs';
import { perEnvelope } from '../../../operators/model/per-envelope.js';
import { Books, messageEnvelope, testScheduler } from '../../helpers/marbles.js';
import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';

/** The edges of the small model modules: each case is one a slightly different rule would get wrong. */
describe('model edges', () => {
  it('positions: only the whole of `<ms>-<seq>[#part]` has an order', () => {
    for (const position of ['1-2', '1700000000000-5', '5-1#12', '0-0#0'])
      expect(isOrdered(position), position).to.equal(true);
    for (const position of ['x1-2', '1-2x', '1-2#', '1-2#x', '1-2#3#4', '-1-2', '1--2', '1-2 ', ''])
      expect(isOrdered(position), position).to.equal(false);
    expect(compareOrder('a5-1', '5-1')).to.equal(undefined);
    expect(compareOrder('5-1', '5-1b')).to.equal(undefined);
    expect(compareOrder('5-1#12', '5-1#3')).to.equal(1);
    expect(compareOrder('5-1#3', '5-1#12')).to.equal(-1);
    // Equal in the first two, the third decides; equal in all, 0 (not -1, not 1).
    expect(compareOrder('5-7#1', '5-7#1')).to.equal(0);
    expect(compareOrder('5-7', '5-7')).to.equal(0);
    expect(compareOrder('6-0', '5-9#9')).to.equal(1);
  });

  it('identity keys: emails compare without case, other ids exactly', () => {
    expect(identityKey({ namespace: 'Email', target: 'email', id: 'Ann@Example.COM' })).to.equal(
      'email:ann@example.com',
    );
    expect(identityKey({ namespace: 'ECID', target: 'external_id', id: 'AbC' })).to.equal('external_id:AbC');
  });

  it('outcomes: a detail is kept only when given', () => {
    expect(excluded('x')).to.deep.equal({ kind: 'excluded', reason: 'x' });
    expect(excluded('x', '')).to.deep.equal({ kind: 'excluded', reason: 'x', detail: '' });
    expect(duplicate()).to.deep.equal({ kind: 'duplicate' });
    expect(duplicate('again')).to.deep.equal({ kind: 'duplicate', detail: 'again' });
    expect(failed('y')).to.deep.equal({ kind: 'failed', reason: 'y' });
    expect(httpReason(418)).to.equal('http-418');
  });

  it('paths: a numeric segment indexes only a list, and only as a whole number', () => {
    const value = { list: ['a', 'b'], map: { '1': 'one', x1: 'ex' }, 12: 'twelve' };
    expect(getPath(value, 'list.1')).to.equal('b');
    expect(getPath(value, 'map.1')).to.equal('one');
    expect(getPath(value, 'list.x1')).to.equal(undefined);
    expect(getPath(value, 'list.1x')).to.equal(undefined);
    expect(getPath(value, '12')).to.equal('twelve');
    expect(getPath(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k'], '10')).to.equal('k');
    expect(getPath('text', 'length')).to.equal(undefined);
    expect(setPath({ a: 1 }, '', 2)).to.deep.equal({ a: 1, '': 2 });
    // Writing through a value that is not an object replaces it; through null too.
    expect(setPath({ a: 'x', n: null, l: [1] }, 'a.b', 1)).to.deep.equal({ a: { b: 1 }, n: null, l: [1] });
    expect(setPath({ n: null }, 'n.b', 1)).to.deep.equal({ n: { b: 1 } });
    expect(setPath({ l: [1] }, 'l.b', 1)).to.deep.equal({ l: { b: 1 } });
  });

  it('fingerprints: lists and objects with the same entries differ, and so do nestings', () => {
    expect(fingerprint({ a: ['x', 'y'] })).to.not.equal(fingerprint({ a: 'x,y' }));
    expect(fingerprint({ a: { b: 1, c: 2 } })).to.not.equal(fingerprint({ a: { 'b:1': 'c:2' } }));
    expect(fingerprint({ a: [1, [2, 3]] })).to.not.equal(fingerprint({ a: [[1, 2], 3] }));
    expect(fingerprint({ a: { b: 1 }, c: 2 })).to.not.equal(fingerprint({ a: { b: 1, c: 2 } }));
  });

  it('profiles: identity entries and memberships keep what Adobe adds, and check what is read', () => {
    const profile = decodeOrThrow(Profile, {
      identityMap: { Email: [{ id: 'a@b.c', primary: true, authenticatedState: 'authenticated', extra: 1 }] },
      segmentMembership: { ups: { a1: { status: 'realized', lastQualificationTime: 't', extra: 2 } }, other: 3 },
    });
    expect(profile.identityMap!['Email']![0]).to.deep.equal({
      id: 'a@b.c',
      primary: true,
      authenticatedState: 'authenticated',
      extra: 1,
    });
    expect(profile.segmentMembership!.ups!['a1']).to.deep.equal({
      status: 'realized',
      lastQualificationTime: 't',
      extra: 2,
    });
    const problems = (raw: unknown) => {
      const decoded = Profile.decode(raw);
      return isLeft(decoded) ? formatErrors(decoded.left) : [];
    };
    expect(problems({ identityMap: { Email: [{ id: 'a', primary: 'yes' }] } })).to.deep.equal([
      'identityMap.Email[0].primary: expected boolean, got "yes"',
    ]);
    expect(problems({ identityMap: { Email: [{ id: 'a', authenticatedState: 1 }] } })).to.deep.equal([
      'identityMap.Email[0].authenticatedState: expected string, got 1',
    ]);
    expect(
      problems({ segmentMembership: { ups: { a1: { status: 'realized', lastQualificationTime: 5 } } } }),
    ).to.deep.equal(['segmentMembership.ups.a1.lastQualificationTime: expected string, got 5']);
    expect(problems({ segmentMembership: { ups: { a1: {} } } })).to.deep.equal([
      'segmentMembership.ups.a1.status: missing (expected string)',
    ]);
    expect(problems({ identityMap: 3 })[0]).to.match(
      /^identityMap: expected identityMap \(namespace -> list of \{id\}\), got 3/,
    );
  });

  it('tickets: a hook runs on a split part too, and a part count must be a whole number of at least one', () => {
    const ledger = new Ledger();
    const seen: string[] = [];
    const parts = Ticket.open(ledger)
      .withHook((outcome) => (seen.push(outcome.kind), outcome))
      .split(1);
    expect(parts).to.have.length(1);
    parts[0]!.settle(excluded('x'), { origin: { source: 't', position: '1' } });
    expect(seen).to.deep.equal(['excluded']);
    expect(() => Ticket.open(ledger).split(0)).to.throw('cannot split a ticket into 0 parts');
    expect(() => Ticket.open(ledger).split(1.5)).to.throw('cannot split a ticket into 1.5 parts');
  });

  it('decode errors: brief values, paths through unions and refinements, a message for an empty context', () => {
    expect(describeValue([])).to.equal('an empty list');
    expect(describeValue(null)).to.equal('null');
    expect(describeValue('x'.repeat(58))).to.equal(`"${'x'.repeat(58)}"`);
    expect(describeValue('x'.repeat(59))).to.equal(`"${'x'.repeat(56)}...`);
    const Either = t.union([t.type({ a: t.number }), t.type({ b: t.number })]);
    const decoded = t.type({ value: t.refinement(Either, () => true, 'Checked') }).decode({ value: { a: 'x' } });
    expect(isLeft(decoded) && formatErrors(decoded.left)).to.deep.include('value.a: expected number, got "x"');
    expect(formatErrors([{ value: 1, context: [] }])).to.deep.equal(['(top level): expected a valid value, got 1']);
    expect(formatErrors([{ value: 1, context: [], message: 'plain' }])).to.deep.equal(['(top level): plain']);
    expect(formatErrors([{ value: 1, context: [], message: '' }])).to.deep.equal([
      '(top level): expected a valid value, got 1',
    ]);
    const keyed = t.type({ 'odd key': t.type({ 'x-1': t.number }) }).decode({ 'odd key': { 'x-1': 'y' } });
    expect(isLeft(keyed) && formatErrors(keyed.left, '$')).to.deep.equal([
      '$["odd key"].x-1: expected number, got "y"',
    ]);
  });

  it('tickets: open until settled, no hook error without a hook, and a TicketError by name', () => {
    const ledger = new Ledger();
    const hookErrors: unknown[] = [];
    ledger.hookErrors$.subscribe((error) => hookErrors.push(error));
    const ticket = Ticket.open(ledger);
    expect(ticket.isOpen).to.equal(true);
    ticket.settle(excluded('x'), { origin: { source: 't', position: '1' } });
    expect(ticket.isOpen).to.equal(false);
    expect(hookErrors).to.deep.equal([]);
    try {
      ticket.settle(excluded('x'), { origin: { source: 't', position: '1' } });
      expect.fail('expected a TicketError');
    } catch (error) {
      expect(error).to.be.instanceOf(TicketError);
      expect((error as Error).name).to.equal('TicketError');
    }
  });

  it('ledger: settled means every one of at least `received` envelopes, and not before', async () => {
    const ledger = new Ledger();
    let resolved = false;
    const settled = ledger.whenSettled(2).then((counts) => ((resolved = true), counts));
    const first = Ticket.open(ledger);
    first.settle(excluded('x'), { origin: { source: 't', position: '1' } });
    await Promise.resolve();
    expect(resolved, 'one of two').to.equal(false);
    Ticket.open(ledger).settle(excluded('x'), { origin: { source: 't', position: '2' } });
    expect((await settled).settled).to.equal(2);
  });

  it('paths and fingerprints: a leading zero still indexes a list, an object key is read as written', () => {
    expect(getPath({ list: ['a', 'b'] }, 'list.01')).to.equal('b');
    expect(getPath({ map: { '01': 'x', '1': 'y' } }, 'map.01')).to.equal('x');
    expect(fingerprint({ a: ['x', 'y'] })).to.not.equal(fingerprint({ a: { '0': 'x', '1': 'y' } }));
    expect(fingerprint({ a: [1, 2] })).to.not.equal(fingerprint({ a: [12] }));
  });

  it('profiles: every part that is read names itself when it is not what it should be', () => {
    const problems = (raw: unknown) => {
      const decoded = Profile.decode(raw);
      return isLeft(decoded) ? formatErrors(decoded.left) : [];
    };
    expect(problems({ segmentMembership: 'x' })).to.deep.equal([
      'segmentMembership: expected an object (segmentMembership), got "x"',
    ]);
    expect(problems({ segmentMembership: { ups: 'x' } })).to.deep.equal([
      'segmentMembership.ups: expected segmentMembership.ups (audience id -> {status}), got "x"',
    ]);
    expect(problems({ segmentMembership: { ups: { a1: 'x' } } })).to.deep.equal([
      'segmentMembership.ups.a1: expected an object (Membership), got "x"',
    ]);
  });

  it('perEnvelope: a step that throws fails only its envelope, as operator-error naming the step', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      let calls = 0;
      const step = perEnvelope('shaky', (envelope) => {
        calls += 1;
        if (calls === 1) throw new Error('boom');
        if (calls === 2) throw 'not an error';
        return envelope;
      });
      const source = cold('abc|', {
        a: messageEnvelope(books.ledger, 1, '1'),
        b: messageEnvelope(books.ledger, 2, '2'),
        c: messageEnvelope(books.ledger, 3, '3'),
      });
      expectObservable(
        source.pipe(
          step,
          map((e) => e.origin.position),
        ),
      ).toBe('--c|', { c: '3' });
    });
    expect(books.settled.map((s) => s.outcome)).to.deep.equal([
      { kind: 'failed', reason: 'operator-error', detail: 'shaky: boom' },
      { kind: 'failed', reason: 'operator-error', detail: 'shaky: not an error' },
    ]);
  });

  it('codecs: a brand keeps its name, and a decoded undefined adds no key', () => {
    expect(NonEmptyString.name).to.equal('NonEmptyString');
    expect(decodeOrThrow(struct('S', { k: t.unknown }), {})).to.deep.equal({});
    const decoded = t.type({ a: t.type({ b: t.number }) }).decode({ a: { b: 'x' } });
    expect(isLeft(decoded) && pathOf(decoded.left[0]!.context)).to.equal('a.b');
  });
});
