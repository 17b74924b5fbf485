import { expect } from 'chai';
import { deadLetterFile } from '../helpers/temp.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { CliProcesses, finished } from '../helpers/cli.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { eventually, TestWebSocketServer } from '../helpers/ws-server.js';

const writeConfig = (text: string): string => {
  const file = join(mkdtempSync(join(tmpdir(), 'qa-cli-')), 'config.yaml');
  writeFileSync(file, text);
  return file;
};

describe('command line', function () {
  this.timeout(30_000);
  // Every child is killed after its test, passed or failed: a failed assertion must not leave one running.
  const processes = new CliProcesses();
  afterEach(() => processes.killAll());
  const runCli = (args: readonly string[], env?: NodeJS.ProcessEnv) => processes.run(args, env);
  const startCli = (args: readonly string[], env?: NodeJS.ProcessEnv) => processes.start(args, env);

  it('validate: exits 0 for a good config', async () => {
    const result = await runCli(['validate', '--config', 'examples/config.yaml'], {
      QUALTRICS_API_TOKEN: 'x',
      FEED_TOKEN: 'y',
    });
    expect(result.stderr).to.equal('');
    expect(result.stdout).to.equal(
      [
        'examples/config.yaml: OK (Post-purchase survey: 2 audience(s), 2 identity mapping(s), 4 attribute(s))',
        'operators, in the order they run:',
        ' 1. decode             parse raw messages into profile envelopes (one per profile)',
        ' 2. qualify            keep profiles in a mapped audience with a listed status',
        ' 3. selectIdentity     keep the mapped identities (plain-text emails only) and pick the one that orders and dedupes',
        ' 4. projectAttributes  copy mapped profile attributes to their target paths in the payload',
        " 5. keepOrder          let a journaled update go on only when every earlier one of its person's is finished, in any process",
        ' 6. dedupe             send a payload once per identity; marked sent only after the destination accepted it',
        ' 7. emit               post each payload to the Qualtrics JSON Event, paced, ordered per identity, retried, and settle it',
        'where values came from:',
        '  destination.apiToken: examples/config.yaml (${QUALTRICS_API_TOKEN})',
        '  source.websocket.headers.Authorization: examples/config.yaml (Bearer ${FEED_TOKEN})',
        '  everything else: examples/config.yaml, or the default',
        '',
      ].join('\n'),
    );
    expect(result.code).to.equal(0);
  });

  it('validate: prints every problem and exits 1', async () => {
    const file = writeConfig(
      'name: x\nsource: { websocket: { url: "htp://x" } }\ndestination: { url: "htp://x", apiToken: "${TOKEN}" }\n',
    );
    const result = await runCli(['validate', '--config', file]);
    expect(result.code).to.equal(1);
    expect(result.stderr.split('\n')).to.include.members([
      `${file}: 5 problems:`,
      '  - destination.apiToken: environment variable TOKEN is not set',
      '  - source.websocket.url: expected a ws:// or wss:// URL, got "htp://x"',
      '  - destination.url: expected an http(s) URL, got "htp://x"',
      '  - audiences: missing (expected non-empty list of {id, name?})',
    ]);
  });

  it('run: delivers until SIGTERM, then stops cleanly with exit 0 and never logs a secret', async () => {
    const feed = await TestWebSocketServer.start();
    const standIn = await QualtricsStandIn.start({ apiToken: 'cli-secret-token' });
    try {
      const file = writeConfig(`
name: CLI run
source: { websocket: { url: "${feed.url}", headers: { Authorization: "Bearer \${FEED_TOKEN}" } } }
destination: { url: "${standIn.url}", apiToken: "\${QUALTRICS_API_TOKEN}", auth: header, allowAnyHost: true }
deadLetters: { file: ${deadLetterFile()} }
observability: { port: 0 }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
`);
      const child = startCli(['run', '--config', file], {
        QUALTRICS_API_TOKEN: 'cli-secret-token',
        FEED_TOKEN: 'feed-secret-token',
        LOG_LEVEL: 'debug',
      });
      const result = finished(child);
      const socket = await feed.connection(1);
      socket.send(
        JSON.stringify({
          identityMap: { Email: [{ id: 'ann@example.com' }] },
          segmentMembership: { ups: { a1: { status: 'realized' } } },
        }),
      );
      await eventually(() => standIn.runs.length === 1, 10_000, 'a delivery');
      child.kill('SIGTERM');
      const { code, stderr } = await result;
      expect(code).to.equal(0);
      const lines = stderr
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { msg: string; counts?: unknown });
      expect(lines.map((l) => l.msg)).to.include.members([
        'pipeline started',
        'connected to the feed',
        'delivered',
        'pipeline stopped',
      ]);
      expect(lines.find((l) => l.msg === 'pipeline stopped')!.counts).to.deep.include({
        received: 1,
        delivered: 1,
        inFlight: 0,
      });
      expect(stderr).not.to.contain('cli-secret-token');
      expect(stderr).not.to.contain('feed-secret-token');
      expect(stderr).not.to.contain('ann@example.com');
    } finally {
      await feed.close();
      await standIn.close();
    }
  });

  it('run: logs one clear error saying what to fix when the destination rejects the credentials', async () => {
    const feed = await TestWebSocketServer.start();
    const standIn = await QualtricsStandIn.start({ apiToken: 'the-right-token' });
    try {
      const file = writeConfig(`
name: CLI rejected
source: { websocket: { url: "${feed.url}" } }
destination: { url: "${standIn.url}", apiToken: "a-wrong-token", auth: header, allowAnyHost: true, retry: { maxMs: 50 } }
deadLetters: { file: ${deadLetterFile()} }
observability: { port: 0 }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
`);
      const child = startCli(['run', '--config', file]);
      const result = finished(child);
      const socket = await feed.connection(1);
      for (const id of ['a@example.com', 'b@example.com', 'c@example.com'])
        socket.send(
          JSON.stringify({
            identityMap: { Email: [{ id }] },
            segmentMembership: { ups: { a1: { status: 'realized' } } },
          }),
        );
      await eventually(() => standIn.requests.length >= 6, 10_000, 'several rejected attempts');
      child.kill('SIGKILL');
      const { stderr } = await result;
      const paused = stderr.split('\n').filter((line) => line.includes('intake paused'));
      expect(paused).to.have.length(1);
      expect(JSON.parse(paused[0]!)).to.include({
        level: 50,
        fix: 'the destination rejected the credentials (401): check destination.username and destination.apiToken',
      });
      expect(stderr).not.to.contain('a-wrong-token');
    } finally {
      await feed.close();
      await standIn.close();
    }
  });

  it('run: with a journal, says the flow is paused and its updates wait in the journal (the intake goes on)', async () => {
    const feed = await TestWebSocketServer.start();
    const standIn = await QualtricsStandIn.start({ apiToken: 'the-right-token' });
    const fixture = new RedisFixture();
    try {
      const file = writeConfig(`
name: CLI rejected journal
source: { websocket: { url: "${feed.url}" } }
redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }
journal: { stream: "${fixture.prefix}:journal" }
destination: { url: "${standIn.url}", apiToken: "a-wrong-token", auth: header, allowAnyHost: true, retry: { maxMs: 50 } }
observability: { port: 0 }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
`);
      const child = startCli(['run', '--config', file]);
      const result = finished(child);
      (await feed.connection(1)).send(
        JSON.stringify({
          identityMap: { Email: [{ id: 'a@example.com' }] },
          segmentMembership: { ups: { a1: { status: 'realized' } } },
        }),
      );
      await eventually(() => standIn.requests.length >= 1, 10_000, 'a rejected attempt');
      await new Promise((resolve) => setTimeout(resolve, 300));
      child.kill('SIGKILL');
      const { stderr } = await result;
      const paused = stderr.split('\n').filter((line) => line.includes('paused'));
      expect(paused.map((line) => (JSON.parse(line) as { msg: string }).msg)).to.deep.equal([
        'flow paused (updates wait in the journal): the destination rejected the credentials (401): check destination.username and destination.apiToken',
      ]);
    } finally {
      await feed.close();
      await standIn.close();
      await fixture.cleanup();
    }
  });

  it('run: refuses a bad config with its problems and exit 1', async () => {
    const result = await runCli(['run', '--config', 'no/such.yaml']);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/no\/such\.yaml: 1 problem:\n {2}- cannot read the file: ENOENT/);
  });
});
