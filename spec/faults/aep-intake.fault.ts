import { expect } from 'chai';
import { request } from 'node:http';
import { checkEnd, Musts } from './helpers/checker.js';
import { ACCEPT } from './helpers/counting-endpoint.js';
import { FaultRun } from './helpers/fault-run.js';
import { freePort } from '../helpers/ports.js';
import { distinctUpdates } from './helpers/producers.js';
import { drained } from './helpers/private-redis.js';
import { scenario } from './helpers/scenario.js';
import { deliveredOrSettled, until } from './helpers/waits.js';

/*
 * Issue #11: the HTTPS intake AEP's HTTP API destination posts to. Adobe drops an export after two failed
 * retries, so a 200 must mean "stored": a process killed with SIGKILL right after answering 200 loses
 * nothing, and the next process delivers it.
 */

const FEED_TOKEN = 'aep-fault-token';

/** POSTs one body as AEP does (or sends a bare GET) and resolves with the status. */
const post = async (url: string, body: unknown, method = 'POST'): Promise<number> =>
  (await exchange(url, body, method)).status;

/** POSTs one body as AEP does and resolves with the status and the Retry-After header. */
const exchange = (
  url: string,
  body: unknown,
  method = 'POST',
): Promise<{ status: number; retryAfter: string | undefined }> =>
  new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = request(
      url,
      {
        method,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          authorization: `Bearer ${FEED_TOKEN}`,
        },
      },
      (res) => {
        res.resume();
        const retryAfter = res.headers['retry-after'];
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter }));
      },
    );
    req.on('error', reject);
    req.end(text);
  });

describe('fault: the AEP intake (issue #11): killed after a 200, Redis frozen', () => {
  const s = scenario();

  it('SIGKILL right after the last 200: every profile answered 200 is delivered by the next process', async () => {
    const musts = new Musts();
    // Slow answers, so most of what was stored is still to be sent when the process dies.
    const endpoint = await s.endpoint();
    endpoint.script = () => ({ ...ACCEPT, delayMs: 200 });
    const redis = await s.redis();
    const client = redis.client();
    await redis.ready(client);
    const intakePort = await freePort();
    const journal = `${s.prefix}:journal`;
    const config = (port: number): string =>
      FaultRun.config(port, {
        source: `{ http: { port: ${intakePort}, auth: { bearer: ${FEED_TOKEN} } } }`,
        endpoint,
        destination: ['concurrency: 2'],
        redisUrl: redis.url,
        prefix: s.prefix,
        extra: [`journal: { stream: "${journal}", claimIdleSeconds: 1 }`, 'dedupe: { leaseSeconds: 2 }'],
      });
    const first = await FaultRun.start(config);
    const url = `http://127.0.0.1:${intakePort}/profiles`;
    // A GET is answered 405 and stores nothing: it only says the intake is up.
    await until(async () => (await post(url, {}, 'GET').catch(() => 0)) === 405, 15_000, 'the intake listening');
    const updates = distinctUpdates(40, 'aep-');
    const answers: number[] = [];
    for (const update of updates) answers.push(await post(url, update.profile));
    const exit = await first.stopWith('SIGKILL', 10_000);
    expect(exit.signal).to.equal('SIGKILL');
    musts.check('every profile was answered 200', () => expect(answers).to.deep.equal(Array(40).fill(200)));
    musts.check('not everything was sent before the kill', () =>
      expect(endpoint.accepted().length).to.be.below(updates.length),
    );

    const second = FaultRun.startWith(first.configFile, first.port);
    await musts.checkAsync('the next process delivers every profile answered 200', () =>
      deliveredOrSettled(endpoint, { settled: () => drained(client, journal, 'qualtrics-automations') }, 40, 40_000),
    );
    await checkEnd(musts, second, { expected: updates, endpoint, allowRepeats: 2 });
    musts.verify();
  });

  it('Redis stops answering (SIGSTOP): the intake answers 503 with Retry-After in seconds, not at its request timeout, then 200 again', async () => {
    const musts = new Musts();
    const endpoint = await s.endpoint();
    const redis = await s.redis();
    const client = redis.client();
    await redis.ready(client);
    const intakePort = await freePort();
    const journal = `${s.prefix}:journal`;
    const run = await FaultRun.start((port) =>
      FaultRun.config(port, {
        source: `{ http: { port: ${intakePort}, auth: { bearer: ${FEED_TOKEN} } } }`,
        endpoint,
        redisUrl: redis.url,
        prefix: s.prefix,
        extra: [`journal: { stream: "${journal}", claimIdleSeconds: 1 }`, 'dedupe: { leaseSeconds: 2 }'],
      }),
    );
    const url = `http://127.0.0.1:${intakePort}/profiles`;
    await until(async () => (await post(url, {}, 'GET').catch(() => 0)) === 405, 15_000, 'the intake listening');
    const updates = distinctUpdates(6, 'frozen-');
    const answers: number[] = [];
    for (const update of updates.slice(0, 2)) answers.push(await post(url, update.profile));

    // A Redis that keeps its connections open and answers nothing: no refusal tells the process.
    process.kill(redis.pid!, 'SIGSTOP');
    s.defer(() => process.kill(redis.pid!, 'SIGCONT'));
    const started = Date.now();
    const frozen = await exchange(url, updates[2]!.profile);
    const waited = Date.now() - started;
    const next = await exchange(url, updates[3]!.profile);
    process.kill(redis.pid!, 'SIGCONT');
    musts.check('refused with 503 and Retry-After while Redis does not answer', () => {
      expect(frozen.status).to.equal(503);
      expect(Number(frozen.retryAfter)).to.be.above(0);
      expect(next.status).to.equal(503);
    });
    musts.check('within the append timeout (5 s), not the 30 s request timeout', () =>
      expect(waited).to.be.below(15_000),
    );

    // AEP retries what was refused; once Redis answers, everything is stored and sent once.
    await until(async () => (await post(url, updates[2]!.profile)) === 200, 20_000, 'the intake taking profiles again');
    for (const update of updates.slice(3)) answers.push(await post(url, update.profile));
    musts.check('every profile answered 200 once Redis is back', () =>
      expect(answers).to.deep.equal(Array(5).fill(200)),
    );
    await musts.checkAsync('every profile delivered', () =>
      deliveredOrSettled(endpoint, { settled: () => drained(client, journal, 'qualtrics-automations') }, 6, 30_000),
    );
    await checkEnd(musts, run, { expected: updates, endpoint });
    musts.verify();
  });
});
