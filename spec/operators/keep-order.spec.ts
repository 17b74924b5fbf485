import { expect } from 'chai';
import { map, shareReplay, Subject } from 'rxjs';
import { keepOrder, KeepOrderOptions } from '../../operators/keep-order.js';
import { decodeOrThrow } from '../../operators/model/codecs.js';
import type { Envelope } from '../../operators/model/envelope.js';
import type { Ledger } from '../../operators/model/ledger.js';
import type { TurnBook } from '../../operators/model/ports.js';
import { IntakeValve } from '../../pipeline/valve.js';
import { Books, profileEnvelope, profileOf, testScheduler } from '../helpers/marbles.js';
import { behavesLikeAnOperator } from '../helpers/operator-contract.js';

const options = decodeOrThrow(KeepOrderOptions, { pollMs: 10 });

/** A turn book in memory: what is finished per key, set by the test, and how many wait. */
class Lines implements TurnBook {
  readonly done = new Map<string, number>();
  readonly finished = new Subject<string>();
  readonly finished$ = this.finished.asObservable();
  waits = 0;
  mostWaiting = 0;
  /** Keys whose next turn's entry is gone from the journal. */
  readonly lost = new Set<string>();
  skips: string[] = [];

  finishedUpTo(key: string): number {
    return this.done.get(key) ?? 0;
  }

  finish(key: string, seq: number): void {
    this.done.set(key, seq);
    this.finished.next(key);
  }

  skipLost(key: string): boolean {
    this.skips.push(key);
    if (!this.lost.delete(key)) return false;
    this.finish(key, this.finishedUpTo(key) + 1);
    return true;
  }

  waiting(delta: number): void {
    this.waits += delta;
    this.mostWaiting = Math.max(this.mostWaiting, this.waits);
  }
}

const inLine = (ledger: Ledger, position: string, key: string, seq: number): Envelope => ({
  ...profileEnvelope(ledger, profileOf({}), position),
  turn: { key, seq },
});

describe('keepOrder', () => {
  it('lets an update go on only once every earlier one of its person is finished, whoever finished it', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const lines = new Lines();
    scheduler.run(({ cold, expectObservable }) => {
      // Ann's 2nd and 3rd arrive first; her 1st is being handled elsewhere and finishes at 30 (seen at
      // the next look, every 10); Ben's 1st goes at once.
      const source = cold('(abc)|', {
        a: inLine(books.ledger, 'ann-2', 'email:ann', 2),
        b: inLine(books.ledger, 'ben-1', 'email:ben', 1),
        c: inLine(books.ledger, 'ann-3', 'email:ann', 3),
      });
      scheduler.schedule(() => lines.done.set('email:ann', 1), 25);
      // Ann's 2nd is finished here (this process announces it): her 3rd goes at once.
      scheduler.schedule(() => lines.finish('email:ann', 2), 42);
      const positions = source.pipe(
        keepOrder(options, { turnBook: lines, valve: new IntakeValve(), scheduler }),
        map((envelope) => envelope.origin.position),
      );
      expectObservable(positions).toBe('b 29ms a 11ms (c|)', { a: 'ann-2', b: 'ben-1', c: 'ann-3' });
    });
    expect(lines.waits, 'nobody left waiting').to.equal(0);
    expect(lines.mostWaiting).to.equal(2);
  });

  it('finishes, after lostAfterMs, an earlier turn whose journal entry is gone, so the line goes on', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const lines = new Lines();
    lines.lost.add('email:ann');
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: inLine(books.ledger, 'ann-2', 'email:ann', 2) });
      const waiting = source.pipe(
        keepOrder(decodeOrThrow(KeepOrderOptions, { pollMs: 10, lostAfterMs: 100 }), {
          turnBook: lines,
          valve: new IntakeValve(),
          scheduler,
        }),
        map((envelope) => envelope.origin.position),
      );
      expectObservable(waiting).toBe('100ms (a|)', { a: 'ann-2' });
    });
    expect(lines.skips).to.deep.equal(['email:ann']);
  });

  it('lets updates without a turn (no journal, or no identity) pass at once, and everything when there is no book', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, expectObservable }) => {
      const plain = profileEnvelope(books.ledger, profileOf({}), 'plain');
      const turned = inLine(books.ledger, 'turned', 'email:ann', 5);
      const source = cold('ab|', { a: plain, b: turned });
      expectObservable(source.pipe(keepOrder(options, { valve: new IntakeValve(), scheduler }))).toBe('ab|', {
        a: plain,
        b: turned,
      });
    });
  });

  it('releases a waiting update when the pipeline stops: unsettled, its source keeps it', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    scheduler.run(({ cold, hot, expectObservable }) => {
      const source = cold('a|', { a: inLine(books.ledger, 'ann-2', 'email:ann', 2) });
      const stopping$ = hot('-----s', { s: true }).pipe(shareReplay(1));
      expectObservable(
        source.pipe(keepOrder(options, { turnBook: new Lines(), valve: new IntakeValve(), scheduler, stopping$ })),
      ).toBe('-----|');
    });
    expect(books.ledger.counts()).to.include({ received: 1, released: 1, inFlight: 0 });
  });

  behavesLikeAnOperator(() => keepOrder(options, { turnBook: new Lines(), valve: new IntakeValve() }));
});
