import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { CliProcesses, finished, liveOutput } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { API_TOKEN, updateFor } from '../helpers/harness.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { tempDir } from '../helpers/temp.js';
import { eventually, TestWebSocketServer } from '../helpers/ws-server.js';

const emailsOf = (standIn: QualtricsStandIn): string[] =>
  standIn.requests.map(
    (r) =>
      (JSON.parse(r.body.toString('utf8')) as { identityMap: { Email: Array<{ id: string }> } }).identityMap.Email[0]!
        .id,
  );

describe('durable intake: journal and stream consumers across crashes (real processes, Redis, endpoint)', function () {
  this.timeout(60_000);
  let fixture: RedisFixture;
  let standIn: QualtricsStandIn;
  const processes = new CliProcesses();
  const cli = (args: readonly string[], env?: NodeJS.ProcessEnv) => processes.start(args, env);
  beforeEach(async () => {
    fixture = new RedisFixture();
    // A slow destination (and a rate limit in the config), so a crash always finds work left.
    standIn = await QualtricsStandIn.start({
      apiToken: API_TOKEN,
      respond: () => new Promise((resolve) => setTimeout(() => resolve(undefined), 15)),
    });
  });
  afterEach(async () => {
    processes.killAll();
    await standIn.close();
    await fixture.cleanup();
  });

  const writeConfig = (source: string, extra = ''): string => {
    const file = join(tempDir(), 'config.yaml');
    writeFileSync(
      file,
      `
name: Durable
source: ${source}
destination: { url: "${standIn.url}", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true, concurrency: 4, rateLimit: { requests: 40, perSeconds: 1 } }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
attributes: [{ source: person.name.firstName, target: firstName }]
redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }
observability: { port: 0 }
${extra}
`,
    );
    return file;
  };

  it('journals a WebSocket feed: a process killed mid-way loses nothing, the next one finishes the work', async () => {
    const feed = await TestWebSocketServer.start();
    const stream = `${fixture.prefix}:journal`;
    const file = writeConfig(
      `{ websocket: { url: "${feed.url}" } }`,
      `journal: { stream: "${stream}", claimIdleSeconds: 1 }\ndedupe: { leaseSeconds: 2 }`,
    );
    try {
      const first = cli(['run', '--config', file]);
      const firstDone = finished(first);
      const socket = await feed.connection(1);
      for (let i = 0; i < 200; i += 1) socket.send(JSON.stringify(updateFor(`p${i}@example.com`)));
      const redis = fixture.connect();
      await eventually(async () => (await redis.xlen(stream)) === 200, 10_000, 'all 200 journaled');
      await eventually(() => standIn.requests.length >= 20, 10_000, 'some deliveries');
      first.kill('SIGKILL');
      await firstDone;
      expect(standIn.requests.length).to.be.below(200);

      const second = cli(['run', '--config', file]);
      const secondDone = finished(second);
      await eventually(() => new Set(emailsOf(standIn)).size === 200, 30_000, 'every update delivered');
      await eventually(
        async () => ((await redis.xpending(stream, 'qualtrics-automations')) as [number])[0] === 0,
        10_000,
        'every entry acknowledged',
      );
      second.kill('SIGTERM');
      expect((await secondDone).code).to.equal(0);
      // Effectively once: only what the killed process had in flight (at most its concurrency) may go twice.
      expect(standIn.requests.length).to.be.within(200, 204);
    } finally {
      await feed.close();
    }
  });

  it("lets another consumer claim a killed consumer's pending stream entries", async () => {
    const redis = fixture.connect();
    const stream = `${fixture.prefix}:updates`;
    await redis.xgroup('CREATE', stream, 'workers', '$', 'MKSTREAM');
    // The killed process also held dedupe leases on what it had in flight: they lapse after 2 s.
    const file = writeConfig(
      `{ redisStream: { stream: "${stream}", group: workers, claimIdleSeconds: 1 } }`,
      'dedupe: { leaseSeconds: 2 }',
    );
    const first = cli(['run', '--config', file]);
    const firstDone = finished(first);
    await eventually(
      async () => ((await redis.xinfo('CONSUMERS', stream, 'workers')) as unknown[]).length === 1,
      10_000,
      'the first consumer',
    );
    for (let i = 0; i < 100; i += 1)
      await redis.xadd(stream, '*', 'profile', JSON.stringify(updateFor(`p${i}@example.com`)));
    await eventually(() => standIn.requests.length >= 10, 10_000, 'some deliveries');
    first.kill('SIGKILL');
    await firstDone;
    const pendingAtKill = ((await redis.xpending(stream, 'workers')) as [number])[0];
    expect(pendingAtKill).to.be.above(0);

    const second = cli(['run', '--config', file]);
    const secondDone = finished(second);
    await eventually(() => new Set(emailsOf(standIn)).size === 100, 30_000, 'every update delivered');
    await eventually(
      async () => ((await redis.xpending(stream, 'workers')) as [number])[0] === 0,
      10_000,
      'every entry acknowledged',
    );
    second.kill('SIGTERM');
    const { code, stderr } = await secondDone;
    expect(code).to.equal(0);
    expect(stderr).to.contain('claimed entries another consumer left pending');
  });

  it('acknowledges a listen-mode producer only after its message is journaled', async () => {
    const redis = fixture.connect();
    const stream = `${fixture.prefix}:journal`;
    // A journal nothing can be appended to until the test allows it: a stream whose last id is the
    // largest there is refuses XADD *, while reading it (the journal's consumer group) still works.
    await redis.xgroup('CREATE', stream, 'qualtrics-automations', '$', 'MKSTREAM');
    await redis.xsetid(stream, '18446744073709551615-18446744073709551615');
    const port = await freePort();
    const file = writeConfig(
      `{ websocket: { listen: { port: ${port}, path: /ingest, token: "\${INGEST_TOKEN}" } } }`,
      `journal: { stream: "${stream}" }`,
    );
    const child = cli(['run', '--config', file], { INGEST_TOKEN: 'producer-secret' });
    const output = liveOutput(child);
    let producer: WebSocket | undefined;
    await eventually(
      () =>
        new Promise<boolean>((resolve) => {
          const attempt = new WebSocket(`ws://127.0.0.1:${port}/ingest?ack=1`, {
            headers: { authorization: 'Bearer producer-secret' },
          });
          attempt.once('open', () => ((producer = attempt), resolve(true)));
          attempt.once('error', () => resolve(false));
        }),
      10_000,
      'the listener',
    );
    const replies: Array<{ ack?: number; nack?: number; journaled: number }> = [];
    const checks: Array<Promise<void>> = [];
    producer!.on('message', (data) => {
      const reply = JSON.parse(String(data)) as { ack?: number; nack?: number };
      checks.push(redis.xlen(stream).then((journaled) => void replies.push({ ...reply, journaled })));
    });
    try {
      producer!.send(JSON.stringify(updateFor('p1@example.com')));
      // The pipeline tried to append message 1 and Redis refused: only now could an early ack have been
      // sent, and it would have been sent before this line was written.
      await eventually(() => output.stderr().includes('journal append failed'), 10_000, 'a refused append');
      // So it is already in this process' socket buffer: a few turns of the event loop read it. The wait
      // is for our own event loop, not for the child, which is why a loaded machine does not change it.
      for (let turn = 0; turn < 3; turn += 1) await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await Promise.all(checks);
      expect(replies, 'replies while the journal refused appends').to.deep.equal([]);

      // Appends allowed again: the retried append succeeds, and then message 1 is acknowledged.
      await redis.xsetid(stream, '0-1');
      await eventually(() => replies.length === 1, 10_000, 'the first acknowledgement');
      for (let i = 2; i <= 5; i += 1) producer!.send(JSON.stringify(updateFor(`p${i}@example.com`)));
      await eventually(() => replies.length === 5, 10_000, 'five acknowledgements');
      await Promise.all(checks);
      expect(replies.map((r) => r.ack)).to.deep.equal([1, 2, 3, 4, 5]);
      for (const { ack, journaled } of replies) expect(journaled, `ack ${ack}`).to.be.at.least(ack!);
      producer!.close();
      await eventually(() => standIn.requests.length === 5, 10_000, 'five deliveries');
    } finally {
      producer?.close();
    }
  });
});
