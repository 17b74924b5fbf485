import type { OperatorFunction } from 'rxjs';
import type { Envelope } from '../../operators/model/envelope.js';
import { testScheduler } from './marbles.js';

/**
 * What every operator owes its stream, whatever it does to envelopes: an empty source completes it,
 * a source error passes through, and unsubscribing reaches the source (teardown is not leaked).
 */
export const behavesLikeAnOperator = (make: () => OperatorFunction<Envelope, Envelope>): void => {
  describe('as an operator', () => {
    it('completes with an empty source', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold<Envelope>('|');
        expectObservable(source.pipe(make())).toBe('|');
        expectSubscriptions(source.subscriptions).toBe('(^!)');
      });
    });

    it('passes a source error through', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold<Envelope>('--#', undefined, new Error('feed broke'));
        expectObservable(source.pipe(make())).toBe('--#', undefined, new Error('feed broke'));
        expectSubscriptions(source.subscriptions).toBe('^-!');
      });
    });

    it('unsubscribes from the source when its consumer does', () => {
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold<Envelope>('------');
        expectObservable(source.pipe(make()), '^--!').toBe('----');
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });
  });
};
