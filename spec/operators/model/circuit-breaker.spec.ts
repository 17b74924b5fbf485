import { expect } from 'chai';
import { CircuitBreaker } from '../../../operators/model/circuit-breaker.js';
import { IntakeValve } from '../../../pipeline/valve.js';
import { testScheduler } from '../../helpers/marbles.js';

// random 1: every backoff is its full length (100, 200, 400, ... ms).
const longest = (): number => 1;

describe('CircuitBreaker', () => {
  it('opens after downAfter failed attempts in a row, for at least two identities; an answer starts again', () => {
    const valve = new IntakeValve();
    // A scheduler never flushed: the probe timer it starts stays in virtual time.
    const breaker = new CircuitBreaker({ downAfter: 3, baseMs: 100, maxMs: 1000 }, valve, testScheduler(), longest);
    for (let i = 0; i < 3; i += 1) breaker.failed('ann', 'HTTP 503');
    // One identity failing is that update's trouble, not the destination's.
    expect(breaker.isOpen).to.equal(false);
    breaker.answered();
    breaker.failed('ann', 'HTTP 503');
    breaker.failed('ben', 'HTTP 503');
    expect(breaker.isOpen).to.equal(false);
    breaker.failed('ann', 'no answer: timeout');
    expect(breaker.isOpen).to.equal(true);
    expect([...valve.reasons]).to.deep.equal([
      [
        'destination-down',
        'the destination failed 3 times in a row, for several updates (last: no answer: timeout); ' +
          'updates wait and one probe retries',
      ],
    ]);
  });

  it('lets one probe through at a time, waits longer after each failed one, and opens for all at an answer', () => {
    const scheduler = testScheduler();
    const valve = new IntakeValve();
    const changes: string[] = [];
    valve.changes$.subscribe((change) => changes.push(`${scheduler.now()} ${change.kind}`));
    const permits: string[] = [];
    scheduler.run(() => {
      const breaker = new CircuitBreaker({ downAfter: 2, baseMs: 100, maxMs: 1000 }, valve, scheduler, longest);
      const ask = (who: string) => breaker.permit().subscribe(() => permits.push(`${scheduler.now()} ${who}`));
      const at = (frame: number, action: () => void) => scheduler.schedule(action, frame);
      // Closed: at once. That attempt is no probe, whatever happens to the breaker after.
      ask('before');
      breaker.failed('ann', 'HTTP 503');
      breaker.failed('ben', 'HTTP 503');
      // Open at 0: the first probe is due at 100.
      ask('x');
      ask('y');
      // An attempt made before it opened fails: not a probe, so it changes nothing.
      at(50, () => breaker.failed('cy', 'HTTP 503'));
      // The probe (x) fails: the next waits twice as long, 200 ms.
      at(150, () => breaker.failed('x', 'HTTP 503'));
      // Waits past the probe (y): let through when the breaker closes, as no probe.
      at(360, () => ask('w'));
      at(400, () => breaker.answered());
      at(450, () => ask('after'));
      // Down again: the backoff starts from the beginning, and a probe goes (no probe left over from before).
      at(500, () => {
        breaker.failed('ann', 'HTTP 503');
        breaker.failed('ben', 'HTTP 503');
        ask('z');
      });
      at(650, () => breaker.answered());
    });
    expect(permits).to.deep.equal(['0 before', '100 x', '350 y', '400 w', '450 after', '600 z']);
    expect(changes).to.deep.equal(['0 closed', '400 opened', '500 closed', '650 opened']);
  });
});
