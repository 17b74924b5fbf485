import { expect } from 'chai';
import { deadLetterFile, tempDir } from '../helpers/temp.js';
import { parseConfig } from '../../pipeline/config/load.js';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { silentLogger } from '../../pipeline/logger.js';
import { startFromConfig } from '../../pipeline/run.js';
import { eventually, TestWebSocketServer } from '../helpers/ws-server.js';

const configText = (feedUrl: string, eventUrl: string, auth: 'basic' | 'header') => `
name: End to end
source:
  websocket:
    url: ${feedUrl}
    headers: { Authorization: "Bearer \${FEED_TOKEN}" }
destination:
  url: ${eventUrl}
  username: survey.admin@example.com
  apiToken: \${QUALTRICS_API_TOKEN}
  auth: ${auth}
  allowAnyHost: true
deadLetters: { file: ${deadLetterFile()} }
state: { dir: ${tempDir()} }
audiences: [{ id: checkout }]
identities: [{ source: Email, target: email }, { source: CRMID, target: external_id }]
attributes:
  - { source: person.name.firstName, target: firstName }
  - { source: loyalty.tier, target: loyalty.tier }
`;

const env = { FEED_TOKEN: 'feed-secret', QUALTRICS_API_TOKEN: 'qualtrics-secret' };

const ann = {
  person: { name: { firstName: 'Ann' } },
  loyalty: { tier: 'gold', points: 1200 },
  identityMap: { Email: [{ id: 'ann@example.com' }], CRMID: [{ id: 'crm-1' }], ECID: [{ id: 'not-mapped' }] },
  segmentMembership: { ups: { checkout: { lastQualificationTime: '2026-11-29T09:00:00.000Z', status: 'realized' } } },
};

describe('end to end: a real WebSocket feed to a real local HTTP endpoint', () => {
  let feed: TestWebSocketServer;
  let standIn: QualtricsStandIn;
  afterEach(async () => {
    await feed?.close();
    await standIn?.close();
  });

  for (const auth of ['basic', 'header'] as const) {
    it(`delivers the mapped payload byte for byte with ${auth} auth, and accounts for everything`, async () => {
      feed = await TestWebSocketServer.start();
      standIn = await QualtricsStandIn.start(
        auth === 'basic'
          ? { username: 'survey.admin@example.com', apiToken: 'qualtrics-secret' }
          : { apiToken: 'qualtrics-secret' },
      );
      const started = await startFromConfig(parseConfig(configText(feed.url, standIn.url, auth), env), silentLogger());
      const socket = await feed.connection(1);
      expect(feed.connections[0]!.request.headers.authorization).to.equal('Bearer feed-secret');

      socket.send(JSON.stringify(ann));
      socket.send('not json');
      socket.send(JSON.stringify([{ ...ann, segmentMembership: { ups: {} } }, ann]));
      await started.flows[0]!.pipeline.ledger.whenSettled(4);
      const { counts } = (await started.stop()).flows[0]!;

      expect(counts).to.deep.equal({
        received: 4,
        delivered: 1,
        duplicate: 1,
        excluded: { 'invalid-json': 1, 'not-qualified': 1 },
        failed: {},
        settled: 4,
        released: 0,
        inFlight: 0,
      });
      expect(standIn.requests).to.have.length(1);
      const [request] = standIn.requests;
      const expectedBody =
        '{"firstName":"Ann","loyalty":{"tier":"gold"},"identityMap":{"Email":[{"id":"ann@example.com"}],"CRMID":[{"id":"crm-1"}]},' +
        '"segmentMembership":{"ups":{"checkout":{"lastQualificationTime":"2026-11-29T09:00:00.000Z","status":"realized"}}}}';
      expect(request!.body.toString('utf8')).to.equal(expectedBody);
      expect(request!.headers['content-type']).to.equal('application/json');
      if (auth === 'basic') {
        expect(request!.headers.authorization).to.equal(
          `Basic ${Buffer.from('survey.admin@example.com:qualtrics-secret').toString('base64')}`,
        );
        expect(request!.headers['x-api-token']).to.equal(undefined);
      } else {
        expect(request!.headers['x-api-token']).to.equal('qualtrics-secret');
        expect(request!.headers.authorization).to.equal(undefined);
      }
      expect(standIn.runs.map((run) => run.status)).to.deep.equal(['Succeeded']);
    });
  }

  it('pauses the intake while the destination rejects the credentials, and resumes with nothing lost', async () => {
    feed = await TestWebSocketServer.start();
    let rejecting = true;
    standIn = await QualtricsStandIn.start({
      username: 'survey.admin@example.com',
      apiToken: 'qualtrics-secret',
      respond: () =>
        rejecting ? { status: 401, body: { meta: { error: { errorMessage: 'invalid credentials' } } } } : undefined,
    });
    const text = configText(feed.url, standIn.url, 'basic').replace(
      'allowAnyHost: true',
      'allowAnyHost: true\n  retry: { maxMs: 100 }',
    );
    const started = await startFromConfig(parseConfig(text, env), silentLogger());
    const socket = await feed.connection(1);
    socket.send(JSON.stringify(ann));
    await eventually(() => started.flows[0]!.wiring.core.valve.isClosed, 5_000, 'the intake to pause');
    expect([...started.flows[0]!.wiring.core.valve.reasons.values()][0]).to.match(
      /check destination\.username and destination\.apiToken/,
    );

    for (const name of ['Ben', 'Chloé', 'David'])
      socket.send(
        JSON.stringify({
          ...ann,
          person: { name: { firstName: name } },
          identityMap: { Email: [{ id: `${name.toLowerCase()}@example.com` }] },
        }),
      );
    // Three more retries of the rejected update, paced by the pipeline's own timers: by then an intake
    // that did not pause would have read the three updates sent before them, however slow this machine.
    const sentAt = standIn.requests.length;
    await eventually(() => standIn.requests.length >= sentAt + 3, 5_000, 'three retries');
    expect(started.flows[0]!.pipeline.ledger.counts().received, 'nothing read while paused').to.equal(1);
    // Retried slowly, every retry.maxMs (100 ms) with jitter (half to all of it): never faster than that.
    const times = standIn.requests.map((request) => request.at);
    for (let i = 1; i < times.length; i += 1) expect(times[i]! - times[i - 1]!, `retry ${i}`).to.be.at.least(45);

    rejecting = false;
    await started.flows[0]!.pipeline.ledger.whenSettled(4);
    expect(started.flows[0]!.wiring.core.valve.isClosed).to.equal(false);
    const { counts } = (await started.stop()).flows[0]!;
    expect(counts).to.deep.include({ received: 4, delivered: 4, failed: {} });
    expect(standIn.runs.map((run) => (run.payload as { firstName: string }).firstName)).to.have.members([
      'Ann',
      'Ben',
      'Chloé',
      'David',
    ]);
  });

  it('stops taking input when stopped: the feed connection closes and the counts are final', async () => {
    feed = await TestWebSocketServer.start();
    standIn = await QualtricsStandIn.start({ username: 'survey.admin@example.com', apiToken: 'qualtrics-secret' });
    const started = await startFromConfig(parseConfig(configText(feed.url, standIn.url, 'basic'), env), silentLogger());
    const socket = await feed.connection(1);
    const closed = new Promise((resolve) => socket.once('close', resolve));
    await eventually(() => socket.readyState === socket.OPEN);
    const { counts } = (await started.stop()).flows[0]!;
    await closed;
    expect(counts.received).to.equal(0);
  });
});
