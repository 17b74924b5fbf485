import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keysFor } from '../../adapters/redis/connection.js';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { CliProcesses } from '../helpers/cli.js';
import { API_TOKEN, Harness, updateFor } from '../helpers/harness.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/ws-server.js';

describe('history, dead letters and send-test commands (real Redis, real endpoint)', function () {
  this.timeout(60_000);
  let fixture: RedisFixture;
  beforeEach(() => (fixture = new RedisFixture()));
  // Children first: a command still running after a failed test must not outlive the keys it uses.
  const processes = new CliProcesses();
  afterEach(async () => {
    processes.killAll();
    await fixture.cleanup();
  });
  const runCli = (args: readonly string[], env?: NodeJS.ProcessEnv) => processes.run(args, env);

  it('history shows the last outcomes with masked identities; dlq lists and redrives a dead letter, removing it after delivery', async () => {
    let rejectBad = true;
    const harness = await Harness.start({
      topLevel: `redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }`,
      respond: (request) =>
        rejectBad && request.body.includes('bad@')
          ? { status: 400, body: { meta: { error: { errorMessage: 'unknown field' } } } }
          : undefined,
    });
    try {
      harness.send(updateFor('ann@example.com'), updateFor('bad@example.com'), {
        ...updateFor('cy@example.com'),
        segmentMembership: { ups: {} },
      });
      await harness.started.flows[0]!.pipeline.ledger.whenSettled(3);
      // The history gathers for up to a second before it writes (see HistoryWriter).
      const redis = fixture.connect();
      await eventually(async () => (await redis.llen(keysFor(fixture.prefix).history)) === 3, 10_000, 'history');
      const badBody = harness.standIn.requests.find((r) => r.body.includes('bad@'))!.body.toString('utf8');

      // The CLI reads the same Redis: a config naming the same prefix.
      const file = join(tempDir(), 'config.yaml');
      writeFileSync(
        file,
        `
name: Commands
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "${harness.standIn.url}", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }
`,
      );
      const history = await runCli(['history', '--config', file]);
      expect(history.code).to.equal(0);
      const rows = history.stdout.trim().split('\n');
      expect(rows[0]).to.match(/^time +outcome +http +attempts +latency +identity +position$/);
      expect(rows).to.have.length(4);
      expect(history.stdout).to.match(/failed http-400 +400 +1 +\d+ ms +Email:b\*\*\*@example\.com/);
      expect(history.stdout).to.match(/delivered +202 +1 +\d+ ms +Email:a\*\*\*@example\.com/);
      expect(history.stdout).to.match(/excluded not-qualified/);
      expect(history.stdout).not.to.contain('ann@example.com');
      const failedOnly = await runCli(['history', '--config', file, '--failed']);
      expect(failedOnly.stdout.trim().split('\n')).to.have.length(2);

      const list = await runCli(['dlq', 'list', '--config', file]);
      expect(list.code).to.equal(0);
      expect(list.stdout).to.match(
        /http-400 +400 +1 +email:b\*\*\*@example\.com +\{"meta":\{"error":\{"errorMessage":"unknown field"\}\}\}/,
      );
      expect(list.stdout).to.contain('1 dead letter(s): http-400 1');

      rejectBad = false;
      const redrive = await runCli(['dlq', 'redrive', '--config', file, '--reason', 'http-400']);
      expect(redrive.stderr).to.equal('');
      expect(redrive.stdout).to.equal(
        'redrove 1 dead letter(s): delivered 1, duplicates 0, excluded 0, failed again 0; removed 1\n',
      );
      const resent = harness.standIn.requests.filter((r) => r.body.includes('bad@'));
      expect(resent).to.have.length(2);
      expect(resent[1]!.body.toString('utf8')).to.equal(badBody);
      expect((await runCli(['dlq', 'list', '--config', file])).stdout).to.equal('no dead letters\n');
    } finally {
      await harness.stop();
    }
  });

  describe('send-test', () => {
    let standIn: QualtricsStandIn;
    afterEach(() => standIn.close());

    const configFile = (token: string): string => {
      const file = join(tempDir(), 'config.yaml');
      writeFileSync(
        file,
        `
name: Send test
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "${standIn.url}", username: survey.admin@example.com, apiToken: "${token}", allowAnyHost: true }
audiences: [{ id: aud-1 }]
identities: [{ source: Email, target: email }]
attributes: [{ source: person.name.firstName, target: firstName }]
`,
      );
      return file;
    };

    it('posts one sample mapped from the config and reports what was sent and what came back, without the token', async () => {
      standIn = await QualtricsStandIn.start({ username: 'survey.admin@example.com', apiToken: 'the-real-token' });
      const { code, stdout } = await runCli(['send-test', '--config', configFile('the-real-token')]);
      expect(code).to.equal(0);
      expect(stdout).to.contain(`POST ${standIn.url}`);
      expect(stdout).to.contain('authorization: Basic [hidden]');
      expect(stdout).to.match(
        /"firstName":"sample person\.name\.firstName","identityMap":\{"Email":\[\{"id":"qualtrics-automations-test@example\.com"\}\]\},"segmentMembership":\{"ups":\{"aud-1":\{"lastQualificationTime":"[^"]+","status":"realized"\}\}\}/,
      );
      expect(stdout).to.match(/202 Accepted in \d+ ms/);
      expect(stdout).to.contain("OK: the destination accepted the event; check the workflow's Run history.");
      expect(stdout).not.to.contain('the-real-token');
      expect(standIn.runs).to.have.length(1);
    });

    it('says what to fix when the credentials are rejected, and exits 1', async () => {
      standIn = await QualtricsStandIn.start({ username: 'survey.admin@example.com', apiToken: 'the-real-token' });
      const { code, stdout } = await runCli(['send-test', '--config', configFile('a-wrong-token')]);
      expect(code).to.equal(1);
      expect(stdout).to.contain('401 Unauthorized');
      expect(stdout).to.contain(
        'Not accepted: the credentials were rejected: check destination.username and destination.apiToken',
      );
      expect(stdout).not.to.contain('a-wrong-token');
    });
  });
});
