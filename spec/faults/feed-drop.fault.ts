import { expect } from 'chai';
import { checkEnd, checkReadyAgain, expectNotReady, Musts } from './helpers/checker.js';
import { FaultRun, type Readiness } from './helpers/fault-run.js';
import { distinctUpdates } from './helpers/producers.js';
import { scenario } from './helpers/scenario.js';
import { deliveredOrSettled, lasting, Sampler, until } from './helpers/waits.js';

/*
 * Issue #8, point 12: the feed dropping. The client reconnects with backoff; a feed that can resume
 * (`resume: { idField, query }`) is asked for what came after the last message taken, so nothing is
 * taken twice or skipped (README, Sources). Must: /readyz says the source is down while it is, and
 * recovers by itself; every update is delivered once; the process stays up and exits 0 on SIGTERM.
 */

const RATE = { requests: 50, perSeconds: 1 };

describe('fault: the feed dropping (issue #8 point 12)', () => {
  const s = scenario();

  it(
    'a resumable feed drops mid-stream and refuses reconnects for 3 s: /readyz 503 naming the source meanwhile, ' +
      'then 200 by itself; every update (sent before and during the drop) delivered once, none taken twice',
    async () => {
      const musts = new Musts();
      const endpoint = await s.endpoint();
      const feed = await s.feed();
      const run = await FaultRun.start((port) =>
        FaultRun.config(port, {
          source: `{ websocket: { url: "${feed.url}", resume: { idField: offset, query: after } } }`,
          endpoint,
          destination: [`rateLimit: { requests: ${RATE.requests}, perSeconds: ${RATE.perSeconds} }`],
          extra: [`deadLetters: { file: ${FaultRun.tempFile('dead-letters.jsonl')} }`],
        }),
      );
      await feed.connection(1);
      await until(async () => (await run.readyz()).status === 200, 10_000, 'ready before the drop');
      const before = distinctUpdates(100, 'before-drop-');
      const during = distinctUpdates(100, 'during-drop-');
      feed.send(before, { resumable: true });
      await until(() => endpoint.accepted().length >= 20, 20_000, 'some deliveries before the drop');

      feed.refusing = true;
      feed.drop();
      // The feed goes on producing while the pipeline cannot reach it; resuming must bring these too.
      feed.send(during, { resumable: true });
      const readiness = new Sampler(() => run.readyz(), 200);
      await lasting(3_000);
      const seen: Readiness[] = await readiness.stop();
      feed.refusing = false;
      musts.check('/readyz 503 naming the source while the feed is down', () => {
        const down = seen.filter((r) => r.status === 503);
        expect(down.length, `of ${seen.length} samples, not ready`).to.be.at.least(Math.floor(seen.length / 2));
        expectNotReady(down[0] ?? seen[0]!, 'source');
      });
      musts.check('the process stays up while the feed is down', () => expect(run.alive).to.equal(true));

      const all = [...before, ...during];
      await musts.checkAsync('every update delivered after the feed is back', () =>
        deliveredOrSettled(endpoint, run, all.length, 30_000),
      );
      await checkReadyAgain(musts, run);
      await checkEnd(musts, run, { expected: all, endpoint, rateLimit: RATE, received: all.length });
      musts.verify();
    },
  );
});
