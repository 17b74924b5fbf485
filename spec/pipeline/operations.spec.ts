import { sample } from '../helpers/metrics.js';
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import got from 'got';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { CliProcesses, finished } from '../helpers/cli.js';
import { API_TOKEN, updateFor } from '../helpers/harness.js';
import { freePort } from '../helpers/ports.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { deadLetterFile, tempDir } from '../helpers/temp.js';
import { eventually, TestWebSocketServer } from '../helpers/ws-server.js';

/** The value of one sample line of a Prometheus exposition (`name{labels} value`). */

describe('operating it: metrics, health and shutdown (real processes)', function () {
  this.timeout(60_000);
  let standIn: QualtricsStandIn;
  let fixture: RedisFixture;
  const processes = new CliProcesses();
  const cli = (args: readonly string[], env?: NodeJS.ProcessEnv) => processes.start(args, env);
  afterEach(async () => {
    processes.killAll();
    await standIn?.close();
    await fixture?.cleanup();
  });

  const writeConfig = (text: string): string => {
    const file = join(tempDir(), 'config.yaml');
    writeFileSync(file, text);
    return file;
  };

  it('serves /metrics with the counts of a known run, /healthz, and /readyz that says why it is not ready', async () => {
    let rejecting = false;
    let failedOnce = false;
    standIn = await QualtricsStandIn.start({
      apiToken: API_TOKEN,
      respond: (request) => {
        if (rejecting) return { status: 401 };
        if (!failedOnce && request.body.includes('ben@')) return ((failedOnce = true), { status: 503 });
        return undefined;
      },
    });
    const feed = await TestWebSocketServer.start();
    const port = await freePort();
    const file = writeConfig(`
name: Observed
source: { websocket: { url: "${feed.url}" } }
destination: { url: "${standIn.url}", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true, retry: { baseMs: 10, maxMs: 100 } }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
deadLetters: { file: ${deadLetterFile()} }
observability: { port: ${port} }
`);
    const child = cli(['run', '--config', file]);
    const done = finished(child);
    try {
      const socket = await feed.connection(1);
      const base = `http://127.0.0.1:${port}`;
      await eventually(
        async () => (await got(`${base}/readyz`, { throwHttpErrors: false })).statusCode === 200,
        10_000,
        'ready',
      );
      expect((await got(`${base}/healthz`)).body).to.equal('ok\n');

      socket.send(JSON.stringify(updateFor('ann@example.com')));
      socket.send(JSON.stringify(updateFor('ben@example.com')));
      socket.send(JSON.stringify(updateFor('ann@example.com')));
      socket.send('{"broken":');
      socket.send(JSON.stringify({ ...updateFor('cy@example.com'), segmentMembership: { ups: {} } }));
      await eventually(() => standIn.runs.length === 2, 10_000, 'two deliveries');
      await eventually(
        async () => sample((await got(`${base}/metrics`)).body, 'qualtrics_automations_in_flight') === 0,
        10_000,
        'all settled',
      );

      const metrics = (await got(`${base}/metrics`)).body;
      expect(sample(metrics, 'qualtrics_automations_profiles_received_total')).to.equal(5);
      expect(sample(metrics, 'qualtrics_automations_identities_activated_total')).to.equal(2);
      // Every sample names its flow: the one flow of this config is named after it.
      expect(sample(metrics, 'qualtrics_automations_identities_activated_total{flow="observed"}')).to.equal(2);
      expect(sample(metrics, 'qualtrics_automations_duplicates_total')).to.equal(1);
      expect(sample(metrics, 'qualtrics_automations_identities_excluded_total{reason="invalid-json"}')).to.equal(1);
      expect(sample(metrics, 'qualtrics_automations_identities_excluded_total{reason="not-qualified"}')).to.equal(1);
      expect(sample(metrics, 'qualtrics_automations_activation_rate')).to.equal(0.4);
      expect(sample(metrics, 'qualtrics_automations_requests_total{status="202"}')).to.equal(2);
      expect(sample(metrics, 'qualtrics_automations_requests_total{status="503"}')).to.equal(1);
      expect(sample(metrics, 'qualtrics_automations_request_duration_seconds_count')).to.equal(3);
      expect(sample(metrics, 'qualtrics_automations_dead_letters')).to.equal(0);

      // Without Redis the run history lives in the process, behind /runs. It is written in batches, after
      // the outcomes: an update settled is in the history a moment later.
      type Runs = Array<{ outcome: string; identity?: string; reason?: string }>;
      const readRuns = async () => JSON.parse((await got(`${base}/runs?limit=4`)).body) as Runs;
      await eventually(async () => (await readRuns()).length === 4, 10_000, 'four outcomes in the history');
      const runs = await readRuns();
      expect(runs.map((r) => r.outcome)).to.include.members(['delivered', 'duplicate', 'excluded']);
      expect(JSON.stringify(runs)).not.to.contain('ann@example.com');

      rejecting = true;
      socket.send(JSON.stringify(updateFor('dee@example.com')));
      await eventually(
        async () => (await got(`${base}/readyz`, { throwHttpErrors: false })).statusCode === 503,
        10_000,
        'not ready',
      );
      const readyz = JSON.parse((await got(`${base}/readyz`, { throwHttpErrors: false })).body) as {
        ready: boolean;
        checks: Record<string, { ok: boolean; detail: string }>;
      };
      expect(readyz.ready).to.equal(false);
      expect(readyz.checks.source).to.deep.include({ ok: true });
      expect(readyz.checks.intake!.ok).to.equal(false);
      expect(readyz.checks.intake!.detail).to.match(
        /destination-rejected: the destination rejected the credentials \(401\)/,
      );
      expect(
        sample((await got(`${base}/metrics`)).body, 'qualtrics_automations_paused{reason="destination-rejected"}'),
      ).to.equal(1);
      rejecting = false;
      await eventually(() => standIn.runs.length === 3, 10_000, 'the held update delivered');
      await eventually(
        async () => (await got(`${base}/readyz`, { throwHttpErrors: false })).statusCode === 200,
        10_000,
        'ready again',
      );
    } finally {
      child.kill('SIGTERM');
      await done;
      await feed.close();
    }
  });

  describe('graceful shutdown', () => {
    const streamConfig = (stream: string, extra: string) => `
name: Shutdown
source: { redisStream: { stream: "${stream}", group: workers, startId: "0", claimIdleSeconds: 1 } }
destination: { url: "${standIn.url}", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true, rateLimit: { requests: 50, perSeconds: 1 }, retry: { maxMs: 200 } }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }
pipeline: { maxInFlight: 20 }
observability: { port: 0 }
${extra}`;

    it('on SIGTERM under load: stops reading, lets what is in flight settle, exits 0, and the next start finishes with nothing lost or sent twice', async () => {
      fixture = new RedisFixture();
      standIn = await QualtricsStandIn.start({ apiToken: API_TOKEN });
      const redis = fixture.connect();
      const stream = `${fixture.prefix}:updates`;
      for (let i = 0; i < 150; i += 1)
        await redis.xadd(stream, '*', 'profile', JSON.stringify(updateFor(`p${i}@example.com`)));
      const file = writeConfig(streamConfig(stream, 'shutdownGraceMs: 30000'));
      const first = cli(['run', '--config', file]);
      const firstDone = finished(first);
      await eventually(() => standIn.requests.length >= 30, 20_000, 'some deliveries');
      first.kill('SIGTERM');
      const { code, stderr } = await firstDone;
      expect(code).to.equal(0);
      expect(stderr).to.contain('stopping: no new input');
      expect(stderr).not.to.contain('grace period over');
      // Only a read racing the stop can leave entries pending (unseen, so unsent); the next start claims them.
      expect(
        ((await redis.xpending(stream, 'workers')) as [number])[0],
        'at most one read batch left pending',
      ).to.be.at.most(20);
      expect(stderr).not.to.contain('recording the run history failed');
      const deliveredBefore = standIn.requests.length;
      expect(deliveredBefore).to.be.below(150);

      const second = cli(['run', '--config', file]);
      const secondDone = finished(second);
      await eventually(() => standIn.requests.length === 150, 20_000, 'the rest delivered');
      second.kill('SIGTERM');
      expect((await secondDone).code).to.equal(0);
      const emails = standIn.requests.map(
        (r) =>
          (JSON.parse(r.body.toString('utf8')) as { identityMap: { Email: Array<{ id: string }> } }).identityMap
            .Email[0]!.id,
      );
      expect(new Set(emails).size).to.equal(150);
      expect(emails, 'nothing sent twice').to.have.length(150);
    });

    it('on SIGTERM during a 401 pause: ends the pause at once, exits 0, and leaves the held updates pending', async () => {
      fixture = new RedisFixture();
      standIn = await QualtricsStandIn.start({ apiToken: API_TOKEN, respond: () => ({ status: 401 }) });
      const redis = fixture.connect();
      const stream = `${fixture.prefix}:updates`;
      for (let i = 0; i < 5; i += 1)
        await redis.xadd(stream, '*', 'profile', JSON.stringify(updateFor(`p${i}@example.com`)));
      // A grace period far longer than the test: a pause must not use it, only requests on the wire may.
      const first = cli(['run', '--config', writeConfig(streamConfig(stream, 'shutdownGraceMs: 60000'))]);
      const done = finished(first);
      await eventually(() => standIn.requests.length >= 5, 20_000, 'attempts');
      const signalledAt = Date.now();
      first.kill('SIGTERM');
      const { code, stderr } = await done;
      expect(code).to.equal(0);
      expect(Date.now() - signalledAt, 'well within the 60 s grace').to.be.below(15_000);
      expect(stderr).not.to.contain('grace period over');
      expect(stderr).to.match(
        /"detail":"5 update\(s\) left pending in the stream for the next start","msg":"pipeline stopped"/,
      );
      expect(((await redis.xpending(stream, 'workers')) as [number])[0]).to.equal(5);
    });
  });
});
