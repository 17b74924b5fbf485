import { expect } from 'chai';
import { from, ignoreElements, lastValueFrom, map, throwError, timer, toArray, type Observable } from 'rxjs';
import type { Envelope, IdentityRef } from '../../../operators/model/envelope.js';
import { excluded } from '../../../operators/model/outcome.js';
import { perEnvelopeAsync, type StepResult } from '../../../operators/model/per-envelope.js';
import { Books, profileEnvelope, profileOf, testScheduler } from '../../helpers/marbles.js';
import { behavesLikeAnOperator } from '../../helpers/operator-contract.js';

const person = (email: string): IdentityRef => ({ namespace: 'Email', target: 'email', id: email });

/** An envelope of `email`'s at `position` whose step takes `ms` (read by the step from the payload). */
const update = (books: Books, email: string | undefined, position: string, ms: number): Envelope => ({
  ...profileEnvelope(books.ledger, profileOf({}), position, { ms }),
  ...(email ? { identity: person(email) } : {}),
});

/** A step that answers after the envelope's `ms` frames, passing it on. */
const slowly = (envelope: Envelope): Observable<StepResult> =>
  timer(envelope.payload.ms as number).pipe(map(() => envelope));

const positions = map((e: Envelope) => e.origin.position);

describe('perEnvelopeAsync', () => {
  behavesLikeAnOperator(() => perEnvelopeAsync('contract', (e) => e));

  it("runs different people's steps side by side, one person's one after another in arrival order", () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const values = {
        a: update(books, 'ann@example.com', 'ann-1', 30),
        b: update(books, 'ann@example.com', 'ann-2', 10),
        c: update(books, 'ben@example.com', 'ben-1', 5),
      };
      // ann-2 is quicker, yet waits for ann-1; ben-1 does not wait for either.
      const out = cold('abc|', values).pipe(perEnvelopeAsync('slow', slowly, { concurrency: 2 }), positions);
      expectObservable(out).toBe('7ms c 22ms a 9ms (b|)', { a: 'ann-1', b: 'ann-2', c: 'ben-1' });
    });
    expect(books.settled).to.deep.equal([]);
  });

  it('runs at most `concurrency` steps at once, oldest first', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const values = {
        a: update(books, 'ann@example.com', 'ann', 10),
        b: update(books, 'ben@example.com', 'ben', 10),
        c: update(books, 'cy@example.com', 'cy', 10),
      };
      const out = cold('abc|', values).pipe(perEnvelopeAsync('slow', slowly, { concurrency: 1 }), positions);
      expectObservable(out).toBe('10ms a 9ms b 9ms (c|)', { a: 'ann', b: 'ben', c: 'cy' });
    });
  });

  it('gives updates without an identity a lane each', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const values = { a: update(books, undefined, '1', 20), b: update(books, undefined, '2', 5) };
      const out = cold('ab|', values).pipe(perEnvelopeAsync('slow', slowly), positions);
      expectObservable(out).toBe('6ms b 13ms (a|)', { a: '1', b: '2' });
    });
  });

  it('settles with the outcome a step returns, and fails only the envelope whose step failed', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const values = {
        a: update(books, 'ann@example.com', 'excluded', 0),
        b: update(books, 'ben@example.com', 'errored', 0),
        c: update(books, 'cy@example.com', 'threw', 0),
        d: update(books, 'dee@example.com', 'empty', 0),
        e: update(books, 'eve@example.com', 'passed', 0),
      };
      const step = (envelope: Envelope): Observable<StepResult> | StepResult => {
        switch (envelope.origin.position) {
          case 'excluded':
            return timer(3).pipe(map(() => excluded('no-consent')));
          case 'errored':
            return throwError(() => new Error('lookup failed'));
          case 'threw':
            throw new Error('bad code');
          case 'empty':
            return timer(1).pipe(ignoreElements());
          default:
            return envelope;
        }
      };
      const out = cold('abcde|', values).pipe(perEnvelopeAsync('lookup', step), positions);
      expectObservable(out).toBe('----e|', { e: 'passed' });
    });
    expect(books.summary()).to.deep.equal({
      excluded: 'excluded:no-consent',
      errored: 'failed:operator-error',
      threw: 'failed:operator-error',
      empty: 'failed:operator-error',
    });
    const details = Object.fromEntries(
      books.settled.map((s) => [s.origin.position, (s.outcome as { detail?: string }).detail]),
    );
    expect(details).to.deep.equal({
      excluded: undefined,
      errored: 'lookup: lookup failed',
      threw: 'lookup: bad code',
      empty: 'lookup: the step ended without a result',
    });
  });

  it('takes promises: a rejection fails that envelope, the others go on', async () => {
    const books = new Books();
    const values = [update(books, 'ann@example.com', '1', 0), update(books, 'ben@example.com', '2', 0)];
    const out = await lastValueFrom(
      from(values).pipe(
        perEnvelopeAsync('remote', async (e) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          if (e.origin.position === '1') throw new Error('503 from the consent service');
          return e;
        }),
        positions,
        toArray(),
      ),
    );
    expect(out).to.deep.equal(['2']);
    expect(books.summary()).to.deep.equal({ '1': 'failed:operator-error' });
  });

  it('refuses a concurrency that would hold every update', () => {
    for (const concurrency of [0, -1, 1.5, Number.NaN])
      expect(() => perEnvelopeAsync('lookup', (e) => e, { concurrency }), String(concurrency)).to.throw(
        RangeError,
        `lookup: concurrency must be a whole number of at least 1, got ${concurrency}`,
      );
  });
});
