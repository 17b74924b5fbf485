import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { CliProcesses, finished } from '../helpers/cli.js';
import { updateFor } from '../helpers/harness.js';
import { freePort } from '../helpers/ports.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { deadLetterFile, tempDir } from '../helpers/temp.js';
import { eventually, TestWebSocketServer } from '../helpers/ws-server.js';

const API_TOKEN = 'qualtrics-api-token-SECRET-1';
const USERNAME = 'survey.admin@example.com';
const FEED_TOKEN = 'feed-bearer-token-SECRET-2';
const INGEST_TOKEN = 'ingest-token-SECRET-3';
/** Every form a secret could take in a log line. */
const SECRETS = [
  API_TOKEN,
  FEED_TOKEN,
  INGEST_TOKEN,
  Buffer.from(`${USERNAME}:${API_TOKEN}`).toString('base64'),
  'SECRET-',
];

describe('secrets never appear in logs or messages (every command, debug level)', function () {
  this.timeout(60_000);
  const processes = new CliProcesses();
  afterEach(() => processes.killAll());
  const runCli = (args: readonly string[], env?: NodeJS.ProcessEnv) => processes.run(args, env);
  const startCli = (args: readonly string[], env?: NodeJS.ProcessEnv) => processes.start(args, env);

  it('finds none of the API token, the Authorization header, the feed or ingest tokens in any output', async () => {
    const rejecting = await QualtricsStandIn.start({ username: USERNAME, apiToken: 'not-the-configured-one' });
    const feed = await TestWebSocketServer.start();
    const port = await freePort();
    const dir = tempDir();
    const write = (name: string, text: string) => {
      const file = join(dir, name);
      writeFileSync(file, text);
      return file;
    };
    const common = `
destination: { url: "${rejecting.url}", username: ${USERNAME}, apiToken: "\${QUALTRICS_API_TOKEN}", allowAnyHost: true, retry: { maxAttempts: 2, baseMs: 10, maxMs: 50 } }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
deadLetters: { file: ${deadLetterFile()} }
observability: { port: 0 }
shutdownGraceMs: 300
`;
    const client = write(
      'client.yaml',
      `name: Client\nsource: { websocket: { url: "${feed.url}", headers: { Authorization: "Bearer \${FEED_TOKEN}" } } }${common}`,
    );
    const listen = write(
      'listen.yaml',
      `name: Listen\nsource: { websocket: { listen: { port: ${port}, token: "\${INGEST_TOKEN}" } } }${common}`,
    );
    const env = { QUALTRICS_API_TOKEN: API_TOKEN, FEED_TOKEN, INGEST_TOKEN, LOG_LEVEL: 'debug' };
    const outputs: string[] = [];
    try {
      // run as a client: rejected credentials (401), then a dead destination (network errors).
      const runClient = startCli(['run', '--config', client], env);
      const clientDone = finished(runClient);
      (await feed.connection(1)).send(JSON.stringify(updateFor('ann@example.com')));
      await eventually(() => rejecting.requests.length >= 2, 10_000, 'rejected attempts');
      runClient.kill('SIGTERM');
      const c = await clientDone;
      outputs.push(c.stdout, c.stderr);

      // run listening: a producer with a wrong token, one with the right token.
      const runListen = startCli(['run', '--config', listen], env);
      const listenDone = finished(runListen);
      await eventually(
        () =>
          new Promise<boolean>((resolve) => {
            const probe = new WebSocket(`ws://127.0.0.1:${port}/`, {
              headers: { authorization: 'Bearer wrong-SECRET-guess' },
            });
            probe.once('unexpected-response', () => resolve(true));
            probe.once('error', () => resolve(false));
          }),
        10_000,
        'the listener',
      );
      const producer = new WebSocket(`ws://127.0.0.1:${port}/`, {
        headers: { authorization: `Bearer ${INGEST_TOKEN}` },
      });
      await new Promise((resolve) => producer.once('open', resolve));
      producer.send(JSON.stringify(updateFor('ben@example.com')));
      await eventually(() => rejecting.requests.length >= 3, 10_000, 'more attempts');
      producer.close();
      runListen.kill('SIGTERM');
      const l = await listenDone;
      outputs.push(l.stdout, l.stderr);

      for (const args of [
        ['validate', '--config', client],
        ['send-test', '--config', client],
        ['dlq', 'list', '--config', client],
      ]) {
        const result = await runCli(args, env);
        outputs.push(result.stdout, result.stderr);
      }
      // A config error that sits next to a secret must not echo it.
      const broken = write(
        'broken.yaml',
        `name: Broken\nsource: { websocket: { url: "${feed.url}" } }\ndestination: { url: "htp://x", apiToken: 42 }\n`,
      );
      const failing = await runCli(['validate', '--config', broken], env);
      outputs.push(failing.stdout, failing.stderr);
    } finally {
      await feed.close();
      await rejecting.close();
    }
    const everything = outputs.join('\n');
    expect(everything.length).to.be.above(2000);
    expect(everything).to.contain('intake paused');
    expect(everything).to.contain('producer refused');
    for (const secret of SECRETS) expect(everything, `found ${secret}`).not.to.contain(secret);
  });

  it('finds none of the OAuth client secret, the signing key, issued tokens or the Basic credentials of the AEP intake', async () => {
    const CLIENT_SECRET = 'oauth-client-SECRET-4';
    const SIGNING_KEY = 'signing-key-SECRET-5-at-least-32-bytes-long';
    const fixture = new RedisFixture();
    const destination = await QualtricsStandIn.start({ username: USERNAME, apiToken: API_TOKEN });
    const port = await freePort();
    const dir = tempDir();
    const config = join(dir, 'aep.yaml');
    writeFileSync(
      config,
      `name: AEP
source:
  http:
    port: ${port}
    auth: { oauth2: { clientId: aep-client, clientSecret: "\${CLIENT_SECRET}", signingKey: "\${SIGNING_KEY}" } }
journal: { stream: "${fixture.prefix}:journal" }
redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }
destination: { url: "${destination.url}", username: ${USERNAME}, apiToken: "\${QUALTRICS_API_TOKEN}", allowAnyHost: true }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
observability: { port: 0 }
`,
    );
    const env = { CLIENT_SECRET, SIGNING_KEY, QUALTRICS_API_TOKEN: API_TOKEN, LOG_LEVEL: 'debug' };
    const base = `http://127.0.0.1:${port}`;
    const basic = (secret: string) => `Basic ${Buffer.from(`aep-client:${secret}`).toString('base64')}`;
    const tokenRequest = (secret: string) =>
      fetch(`${base}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(secret) },
        body: 'grant_type=client_credentials',
      });
    const outputs: string[] = [];
    const leaks = [CLIENT_SECRET, SIGNING_KEY, basic(CLIENT_SECRET), basic('wrong-SECRET-6')];
    try {
      const run = startCli(['run', '--config', config], env);
      const done = finished(run);
      await eventually(
        async () => (await tokenRequest('wrong-SECRET-6').catch(() => undefined))?.status === 401,
        15_000,
        'the token endpoint',
      );
      const granted = (await (await tokenRequest(CLIENT_SECRET)).json()) as { access_token: string };
      leaks.push(granted.access_token);
      const post = (authorization: string) =>
        fetch(`${base}/profiles`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify(updateFor('cat@example.com')),
        });
      expect((await post('Bearer forged-SECRET-7')).status).to.equal(401);
      expect((await post(`Bearer ${granted.access_token}`)).status).to.equal(200);
      await eventually(() => destination.requests.length >= 1, 10_000, 'the delivery');
      run.kill('SIGTERM');
      const result = await done;
      outputs.push(result.stdout, result.stderr);
      const validated = await runCli(['validate', '--config', config], env);
      outputs.push(validated.stdout, validated.stderr);
    } finally {
      await destination.close();
      await fixture.cleanup();
    }
    const everything = outputs.join('\n');
    expect(everything).to.contain('listening for Adobe Experience Platform');
    for (const secret of [...leaks, 'SECRET-']) expect(everything, `found ${secret}`).not.to.contain(secret);
  });
});
