import { expect } from 'chai';
import { map, tap } from 'rxjs';
import { decode } from '../../operators/decode.js';
import { settle, type Envelope } from '../../operators/model/envelope.js';
import { delivered } from '../../operators/model/outcome.js';
import { Books, messageEnvelope, testScheduler } from '../helpers/marbles.js';
import { behavesLikeAnOperator } from '../helpers/operator-contract.js';

const ann = { identityMap: { Email: [{ id: 'ann@example.com' }] }, person: { name: { firstName: 'Ann' } } };
const ben = { identityMap: { ECID: [{ id: '123' }] } };

describe('decode', () => {
  it('turns a JSON message into one profile envelope, keeping unknown XDM attributes', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const message = messageEnvelope(books.ledger, JSON.stringify(ann));
      const source = cold('-a|', { a: message });
      expectObservable(source.pipe(decode())).toBe('-a|', { a: { ...message, message: undefined, profile: ann } });
      expectSubscriptions(source.subscriptions).toBe('^-!');
    });
    expect(books.settled).to.deep.equal([]);
  });

  it("gives each part of a message its own place in its person's line; the message's list stays behind", () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const parts: Envelope[] = [];
    scheduler.run(({ cold }) => {
      const message: Envelope = {
        ...messageEnvelope(books.ledger, JSON.stringify([ann, ben, ann]), '7'),
        // Ben's part has no usable identity, so no place.
        turns: [{ key: 'email:ann@example.com', seq: 3 }, null, { key: 'email:ann@example.com', seq: 4 }],
      };
      cold('a|', { a: message })
        .pipe(decode())
        .subscribe((part) => parts.push(part));
    });
    expect(parts.map((part) => [part.origin.position, part.turn, 'turns' in part])).to.deep.equal([
      ['7#0', { key: 'email:ann@example.com', seq: 3 }, false],
      ['7#1', undefined, false],
      ['7#2', { key: 'email:ann@example.com', seq: 4 }, false],
    ]);
    expect('turn' in parts[1]!).to.equal(false);
  });

  it('accepts a Buffer (a WebSocket frame) and an already parsed object', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const fromBuffer = messageEnvelope(books.ledger, Buffer.from(JSON.stringify(ben)), '1');
      const fromObject = messageEnvelope(books.ledger, ben, '2');
      expectObservable(cold('ab|', { a: fromBuffer, b: fromObject }).pipe(decode())).toBe('ab|', {
        a: { ...fromBuffer, message: undefined, profile: ben },
        b: { ...fromObject, message: undefined, profile: ben },
      });
    });
  });

  it('splits an array message into one envelope per profile; the message is acknowledged once all are settled', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    let acknowledged = 0;
    const parts: Envelope[] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const message = messageEnvelope(books.ledger, JSON.stringify([ann, ben]), '7', () => (acknowledged += 1));
      const output = cold('-(a|)', { a: message }).pipe(
        decode(),
        tap((envelope) => parts.push(envelope)),
        map((envelope) => ({ position: envelope.origin.position, profile: envelope.profile })),
      );
      expectObservable(output).toBe('-(ab|)', {
        a: { position: '7#0', profile: ann },
        b: { position: '7#1', profile: ben },
      });
    });
    expect(books.ledger.counts()).to.include({ received: 2, inFlight: 2 });
    settle(parts[0]!, delivered(202));
    expect(acknowledged).to.equal(0);
    settle(parts[1]!, delivered(202));
    expect(acknowledged).to.equal(1);
    expect(books.ledger.counts()).to.include({ received: 2, delivered: 2, inFlight: 0 });
  });

  it('excludes a message that is not JSON as invalid-json, and goes on with the next', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const broken = messageEnvelope(books.ledger, '{"identityMap": {', '1');
      const good = messageEnvelope(books.ledger, JSON.stringify(ben), '2');
      expectObservable(cold('ab|', { a: broken, b: good }).pipe(decode())).toBe('-b|', {
        b: { ...good, message: undefined, profile: ben },
      });
    });
    expect(books.settled).to.have.length(1);
    expect(books.settled[0]).to.deep.include({ frame: 0, origin: { source: 'test', position: '1' } });
    expect(books.settled[0]!.outcome).to.include({ kind: 'excluded', reason: 'invalid-json' });
    expect((books.settled[0]!.outcome as { detail: string }).detail).to.match(/^decoding message: /);
  });

  it('excludes only the bad element of an array, naming the path of what was wrong', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const message = messageEnvelope(
        books.ledger,
        JSON.stringify([ann, { identityMap: { Email: [{ id: 42 }] } }, ben]),
        '3',
      );
      const output = cold('(a|)', { a: message }).pipe(
        decode(),
        map((envelope) => envelope.origin.position),
      );
      expectObservable(output).toBe('(ab|)', { a: '3#0', b: '3#2' });
    });
    expect(books.summary()).to.deep.equal({ '3#1': 'excluded:invalid-profile' });
    expect(books.settled[0]!.outcome).to.deep.equal({
      kind: 'excluded',
      reason: 'invalid-profile',
      detail: 'decoding profile at $[1].identityMap.Email[0].id: expected a non-empty string, got 42',
    });
  });

  it('names every problem of a profile that is not an object or has the wrong shapes', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const notObject = messageEnvelope(books.ledger, '42', '1');
      const wrongShapes = messageEnvelope(
        books.ledger,
        JSON.stringify({
          identityMap: { Email: 'ann@example.com' },
          segmentMembership: { ups: { a1: { lastQualificationTime: 'x' } } },
        }),
        '2',
      );
      expectObservable(cold('ab|', { a: notObject, b: wrongShapes }).pipe(decode())).toBe('--|');
    });
    expect(books.settled.map(({ outcome }) => outcome)).to.deep.equal([
      {
        kind: 'excluded',
        reason: 'invalid-profile',
        detail: 'decoding profile at $: expected an object (Profile), got 42',
      },
      {
        kind: 'excluded',
        reason: 'invalid-profile',
        detail:
          'decoding profile at $.identityMap.Email: expected Array<IdentityEntry>, got "ann@example.com"; $.segmentMembership.ups.a1.status: missing (expected string)',
      },
    ]);
  });

  it('excludes an empty list as empty-message (it is still one received message)', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold('a|', { a: messageEnvelope(books.ledger, '[]') }).pipe(decode())).toBe('-|');
    });
    expect(books.summary()).to.deep.equal({ '1': 'excluded:empty-message' });
    expect(books.ledger.counts()).to.include({ received: 1, inFlight: 0 });
  });

  behavesLikeAnOperator(() => decode());
});
