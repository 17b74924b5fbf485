import { expect } from 'chai';
import type { Observable } from 'rxjs';
import { emit, EmitOptions } from '../../operators/emit.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import type { Envelope } from '../../operators/model/envelope.js';
import type { Ledger } from '../../operators/model/ledger.js';
import type { SendResult } from '../../operators/model/ports.js';
import { Books, profileEnvelope, profileOf, testScheduler } from '../helpers/marbles.js';
import { behavesLikeAnOperator } from '../helpers/operator-contract.js';

const options = decodeOrThrow(EmitOptions, { concurrency: 2 });

const ready = (ledger: Ledger, position: string, extra: Record<string, string> = {}): Envelope => ({
  ...profileEnvelope(ledger, profileOf({}), position, {
    segmentMembership: { ups: { a1: { status: 'realized' } } },
    identityMap: { Email: [{ id: 'ann@example.com' }] },
    ...extra,
  }),
  identity: { namespace: 'Email', target: 'email', id: 'ann@example.com' },
});

describe('emit', () => {
  it('posts the serialized payload (attributes, then identityMap, then segmentMembership) and settles 2xx as delivered', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const bodies: string[] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const sender = {
        send: (body: string): Observable<SendResult> => {
          bodies.push(body);
          return cold('--(r|)', { r: { status: 202, body: '{}' } });
        },
      };
      const source = cold('a|', { a: ready(books.ledger, '1', { firstName: 'Ann' }) });
      expectObservable(source.pipe(emit(options, { sender }))).toBe('--|');
    });
    expect(bodies).to.deep.equal([
      '{"firstName":"Ann","identityMap":{"Email":[{"id":"ann@example.com"}]},"segmentMembership":{"ups":{"a1":{"status":"realized"}}}}',
    ]);
    expect(books.settled).to.deep.equal([
      {
        frame: 2,
        at: books.settled[0]!.at,
        origin: { source: 'test', position: '1' },
        identity: { namespace: 'Email', target: 'email', id: 'ann@example.com' },
        outcome: { kind: 'delivered', status: 202, attempts: 1 },
      },
    ]);
  });

  it('settles any other status as failed http-<status> with the body, and a network error as network-error', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const answers: Record<string, Observable<SendResult>> = {
        '"1"': cold('-(r|)', { r: { status: 400, body: '{"meta":{"error":"bad"}}' } }),
        '"2"': cold('-#', undefined, new Error('connect ECONNREFUSED 127.0.0.1:9')),
        '"3"': cold('-(r|)', { r: { status: 500, body: 'x'.repeat(600) } }),
      };
      const sender = { send: (body: string) => answers[JSON.stringify(JSON.parse(body).n)]! };
      const source = cold('abc|', { a: ready(books.ledger, '1', { n: '1' }), b: ready(books.ledger, '2', { n: '2' }), c: ready(books.ledger, '3', { n: '3' }) });
      expectObservable(source.pipe(emit(options, { sender }))).toBe('---|');
    });
    const outcomes = books.settled.map(({ outcome }) => outcome);
    expect(outcomes[0]).to.deep.equal({ kind: 'failed', reason: 'http-400', status: 400, detail: '{"meta":{"error":"bad"}}', attempts: 1 });
    expect(outcomes[1]).to.deep.equal({ kind: 'failed', reason: 'network-error', detail: 'connect ECONNREFUSED 127.0.0.1:9', attempts: 1 });
    expect(outcomes[2]).to.include({ kind: 'failed', reason: 'http-500', status: 500 });
    expect((outcomes[2] as { detail: string }).detail).to.have.length(503);
  });

  it('refuses a payload over the size limit without sending it', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    let sent = 0;
    scheduler.run(({ cold, expectObservable }) => {
      const sender = { send: () => (sent += 1, cold('(r|)', { r: { status: 202, body: '' } })) };
      const source = cold('a|', { a: ready(books.ledger, '1', { notes: 'é'.repeat(50_000) }) });
      expectObservable(source.pipe(emit(options, { sender }))).toBe('-|');
    });
    expect(sent).to.equal(0);
    expect(books.settled[0]!.outcome).to.deep.equal({
      kind: 'failed',
      reason: 'payload-too-large',
      detail: '100120 bytes, the limit is 100000',
      attempts: 0,
    });
  });

  it('keeps at most `concurrency` requests in flight', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const answer = cold('---(r|)', { r: { status: 202, body: '' } });
      const source = cold('(abc|)', { a: ready(books.ledger, '1'), b: ready(books.ledger, '2'), c: ready(books.ledger, '3') });
      expectObservable(source.pipe(emit(options, { sender: { send: () => answer } }))).toBe('------|');
      expectSubscriptions(answer.subscriptions).toBe(['^--!', '^--!', '---^--!']);
    });
    expect(books.settled.map(({ frame }) => frame)).to.deep.equal([3, 3, 6]);
  });

  it('rejects options outside their bounds', () => {
    expect(() => decodeOrThrow(EmitOptions, { concurrency: 0, maxPayloadBytes: 200_000 })).to.throw(
      'EmitOptions: concurrency: expected an integer from 1 to 256, got 0; maxPayloadBytes: expected an integer from 1 to 100000, got 200000',
    );
  });

  behavesLikeAnOperator(() => emit(options, { sender: { send: () => [] } }));
});
