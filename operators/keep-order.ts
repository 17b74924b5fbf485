import type * as t from 'io-ts';
import { filter, finalize, merge, mergeMap, of, take, timer, type Observable, type OperatorFunction } from 'rxjs';
import { integerIn, struct, withDefault } from './model/codecs.js';
import { defineOperator, type OperatorContext } from './model/define.js';
import type { Envelope } from './model/envelope.js';
import type { Turn } from './model/turns.js';
import { unlessStopped, untilAnswered } from './model/waits.js';

export const KeepOrderOptions = struct('KeepOrderOptions', {
  /** How often to look again at a line whose earlier update another process is handling. */
  pollMs: withDefault(integerIn(10, 60_000), 100),
  /**
   * After waiting this long, and again after each such wait, ask whether the update it waits for is
   * still in the journal at all: one deleted by hand would otherwise hold its person's line forever.
   */
  lostAfterMs: withDefault(integerIn(100, 3_600_000), 30_000),
});
export type KeepOrderOptions = t.TypeOf<typeof KeepOrderOptions>;

type KeepOrderContext = Pick<OperatorContext, 'turnBook' | 'valve' | 'scheduler' | 'stopping$' | 'random'>;

/**
 * Lets an update from a journal go on only when it is its person's turn: every earlier journaled
 * update of the same identity is finished, in this process or any other. So one person's updates are
 * sent in arrival order across any number of processes sharing the journal, and none is dropped for
 * having been overtaken.
 *
 * It waits outside the send slots (before `dedupe` and `emit`), so waiting updates never hold up others,
 * and every wait is for an earlier update: no cycle, no deadlock. An earlier update held by a crashed
 * process is claimed after `claimIdleSeconds` and finished first. Updates without a turn (no journal,
 * or no usable identity) pass at once. An earlier update whose journal entry was deleted by hand is
 * finished on its behalf after `lostAfterMs`, so the line goes on.
 *
 * @example
 * profiles$.pipe(keepOrder({ pollMs: 100 }, { turnBook, valve }), dedupe(...), emit(...))
 */
export const keepOrder =
  (options: KeepOrderOptions, context: KeepOrderContext): OperatorFunction<Envelope, Envelope> =>
  (source) => {
    const { turnBook, scheduler } = context;
    if (!turnBook) return source;

    const now = (): number => scheduler?.now() ?? Date.now();

    /** Resolves (emits the envelope) once `turn` is next in its line; `lostCheckAt`: when to look for a lost entry. */
    const whenDue = (envelope: Envelope, turn: Turn, lostCheckAt: number): Observable<Envelope> =>
      untilAnswered(envelope, 'the turn book', () => turnBook.finishedUpTo(turn.key), context).pipe(
        mergeMap((finished) => {
          if (finished >= turn.seq - 1) return of(envelope);
          if (now() >= lostCheckAt) {
            return untilAnswered(envelope, 'the turn book', () => turnBook.skipLost(turn.key), context).pipe(
              mergeMap(() => whenDue(envelope, turn, now() + options.lostAfterMs)),
            );
          }
          // A finish here wakes the wait at once; one elsewhere is seen at the next look.
          const lookAgain = merge(
            timer(options.pollMs, scheduler),
            turnBook.finished$.pipe(filter((key) => key === turn.key)),
          ).pipe(take(1));
          return unlessStopped(envelope, lookAgain, context).pipe(mergeMap(() => whenDue(envelope, turn, lostCheckAt)));
        }),
      );

    return source.pipe(
      mergeMap((envelope) => {
        const { turn } = envelope;
        if (!turn) return of(envelope);
        turnBook.waiting(1);
        return whenDue(envelope, turn, now() + options.lostAfterMs).pipe(finalize(() => turnBook.waiting(-1)));
      }),
    );
  };

export const keepOrderOperator = defineOperator({
  name: 'keepOrder',
  summary: "let a journaled update go on only when every earlier one of its person's is finished, in any process",
  options: KeepOrderOptions,
  create: (options, context) => keepOrder(options, context),
});
