import { expect } from 'chai';
import { lastValueFrom, map, of, shareReplay, Subject, toArray } from 'rxjs';
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

  it('lets an update without a turn pass at once though there is a book', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const lines = new Lines();
    scheduler.run(({ cold, expectObservable }) => {
      const plain = profileEnvelope(books.ledger, profileOf({}), 'plain');
      const out = cold('a|', { a: plain }).pipe(
        keepOrder(options, { turnBook: lines, valve: new IntakeValve(), scheduler }),
      );
      expectObservable(out).toBe('a|', { a: plain });
    });
    expect(lines.mostWaiting, 'not counted as waiting').to.equal(0);
  });

  it('runs on the clock when no scheduler is given (the pipeline gives none)', async () => {
    const books = new Books();
    const lines = new Lines();
    lines.done.set('email:ann', 1);
    const out = of(inLine(books.ledger, 'ann-2', 'email:ann', 2)).pipe(
      keepOrder(options, { turnBook: lines, valve: new IntakeValve() }),
      map((envelope) => envelope.origin.position),
      toArray(),
    );
    expect(await lastValueFrom(out)).to.deep.equal(['ann-2']);
  });

  it("wakes only for its own line's finish: another person's does not restart its wait", () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const lines = new Lines();
    scheduler.run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: inLine(books.ledger, 'ann-2', 'email:ann', 2) });
      // Ben's finish at 5 is not Ann's; Ann's 1st finishes elsewhere at 12, seen at the look at 20 (not 15).
      scheduler.schedule(() => lines.finish('email:ben', 1), 5);
      scheduler.schedule(() => lines.done.set('email:ann', 1), 12);
      const out = source.pipe(
        keepOrder(options, { turnBook: lines, valve: new IntakeValve(), scheduler }),
        map((envelope) => envelope.origin.position),
      );
      expectObservable(out).toBe('20ms (a|)', { a: 'ann-2' });
    });
  });

  it('looks for a lost entry again only after another lostAfterMs', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const skippedAt: number[] = [];
    const lines = new (class extends Lines {
      override skipLost(key: string): boolean {
        skippedAt.push(scheduler.now());
        return super.skipLost(key);
      }
    })();
    scheduler.run(({ cold, expectObservable }) => {
      // Not lost, only slow: Ann's 1st finishes elsewhere at 250.
      scheduler.schedule(() => lines.done.set('email:ann', 1), 250);
      const out = cold('a|', { a: inLine(books.ledger, 'ann-2', 'email:ann', 2) }).pipe(
        keepOrder(decodeOrThrow(KeepOrderOptions, { pollMs: 10, lostAfterMs: 100 }), {
          turnBook: lines,
          valve: new IntakeValve(),
          scheduler,
        }),
        map((envelope) => envelope.origin.position),
      );
      expectObservable(out).toBe('250ms (a|)', { a: 'ann-2' });
    });
    expect(skippedAt).to.deep.equal([100, 200]);
  });

  it('waits while the turn book does not answer, naming it', () => {
    const scheduler = testScheduler();
    const books = new Books(scheduler);
    const valve = new IntakeValve();
    const messages: string[] = [];
    valve.changes$.subscribe((change) => change.kind === 'closed' && messages.push(change.message));
    let asked = 0;
    const lines = new (class extends Lines {
      override finishedUpTo(key: string): number {
        asked += 1;
        // The first look fails, and the second look for a lost entry.
        if (asked === 1) throw new Error('connection refused');
        return super.finishedUpTo(key);
      }
      override skipLost(key: string): boolean {
        if (this.skips.length === 0) {
          this.skips.push('refused');
          throw new Error('connection reset');
        }
        return super.skipLost(key);
      }
    })();
    lines.lost.add('email:ann');
    scheduler.run(({ cold }) => {
      cold('a|', { a: inLine(books.ledger, 'ann-2', 'email:ann', 2) })
        .pipe(
          keepOrder(decodeOrThrow(KeepOrderOptions, { pollMs: 10, lostAfterMs: 100 }), {
            turnBook: lines,
            valve,
            scheduler,
            random: () => 1,
          }),
        )
        .subscribe();
    });
    expect(messages).to.deep.equal([
      'the turn book does not answer (connection refused); updates wait until it does',
      'the turn book does not answer (connection reset); updates wait until it does',
    ]);
    expect(lines.skips).to.deep.equal(['refused', 'email:ann']);
  });

  behavesLikeAnOperator(() => keepOrder(options, { turnBook: new Lines(), valve: new IntakeValve() }));
});
