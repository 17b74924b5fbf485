import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import { LeaseRenewal } from '../../../operators/model/lease-renewal.js';
import { testScheduler } from '../../helpers/marbles.js';

describe('LeaseRenewal', () => {
  it('renews every held lease on one timer, never later than one period after it was taken, and stops when none is held', () => {
    const scheduler = testScheduler();
    const renewed: string[] = [];
    let ticksAfterStop = 0;
    scheduler.run(() => {
      const renewal = new LeaseRenewal(
        (key, token) => void renewed.push(`${scheduler.now()} ${key}/${token}`),
        300,
        scheduler,
      );
      scheduler.schedule(() => renewal.hold('a', 't1'), 0);
      // Taken between ticks: renewed at the next one (200 ms later), not 300 ms after it was taken.
      scheduler.schedule(() => renewal.hold('b', 't2'), 100);
      scheduler.schedule(() => renewal.drop('a'), 650);
      scheduler.schedule(() => renewal.drop('b'), 700);
      // The tick at 900 finds nothing held and ends the timer; a lease taken later starts a new one.
      scheduler.schedule(() => renewal.hold('c', 't3'), 1000);
      scheduler.schedule(() => renewal.stop(), 1400);
      scheduler.schedule(() => {
        ticksAfterStop = renewed.length;
      }, 5000);
    });
    expect(renewed).to.deep.equal(['300 a/t1', '300 b/t2', '600 a/t1', '600 b/t2', '1300 c/t3']);
    expect(ticksAfterStop).to.equal(renewed.length);
  });

  it('goes on renewing the others when one renewal throws or rejects', async () => {
    const scheduler = testScheduler();
    const renewed: string[] = [];
    scheduler.run(() => {
      const renewal = new LeaseRenewal(
        (key) => {
          if (key === 'throws') throw new Error('store down');
          if (key === 'rejects') return Promise.reject(new Error('store down'));
          renewed.push(key);
          return undefined;
        },
        100,
        scheduler,
      );
      for (const key of ['throws', 'rejects', 'fine']) renewal.hold(key, 'token');
      scheduler.schedule(() => renewal.stop(), 250);
    });
    expect(renewed).to.deep.equal(['fine', 'fine']);
  });

  it('does not keep a process alive by itself (a pipeline abandoned with a lease held)', () => {
    const script = `
      import { LeaseRenewal } from './operators/model/lease-renewal.ts';
      new LeaseRenewal(() => {}, 60_000, undefined).hold('key', 'token');
    `;
    const started = Date.now();
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: process.cwd(),
      timeout: 20_000,
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).to.equal(0);
    expect(Date.now() - started).to.be.below(15_000);
  });
});
