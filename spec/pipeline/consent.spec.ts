import { expect } from 'chai';
import { parseConfig } from '../../pipeline/config/load.js';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { silentLogger } from '../../pipeline/logger.js';
import { startFromConfig } from '../../pipeline/run.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { deadLetterFile, tempDir } from '../helpers/temp.js';
import { TestWebSocketServer } from '../helpers/ws-server.js';

const update = (consent: string, time: string): string =>
  JSON.stringify({
    consents: { marketing: { email: { val: consent } } },
    identityMap: { Email: [{ id: 'ann.consent@example.com' }] },
    segmentMembership: { ups: { a1: { status: 'realized', lastQualificationTime: time } } },
  });

describe('consent: a withdrawal sends exactly one exited, then silence, across restarts', function () {
  this.timeout(60_000);

  for (const store of ['redis', 'embedded'] as const)
    it(`with the ${store} delivery log`, async () => {
      const fixture = new RedisFixture();
      const feed = await TestWebSocketServer.start();
      const standIn = await QualtricsStandIn.start({ apiToken: 't' });
      const config = parseConfig(
        `
name: Consent
source: { websocket: { url: "${feed.url}" } }
destination: { url: "${standIn.url}", apiToken: t, auth: header, allowAnyHost: true }
${store === 'redis' ? `redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }` : `state: { dir: ${tempDir()} }`}
deadLetters: { file: ${deadLetterFile()} }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
consent: { path: consents.marketing.email.val, allow: [y] }
`,
        {},
      );
      /** Runs one process: sends `updates` in order, waits for their outcomes, stops; answers the reasons excluded. */
      let connections = 0;
      const runProcess = async (updates: string[]): Promise<Record<string, number>> => {
        const started = await startFromConfig(config, silentLogger());
        const socket = await feed.connection((connections += 1));
        for (const message of updates) socket.send(message);
        const counts = await started.flows[0]!.pipeline.ledger.whenSettled(updates.length);
        await started.stop();
        return counts.excluded;
      };
      const statuses = () =>
        standIn.requests.map((request) => {
          const body = JSON.parse(request.body.toString('utf8')) as {
            segmentMembership: { ups: Record<string, { status: string }> };
          };
          return body.segmentMembership.ups.a1!.status;
        });
      try {
        // Never consented: excluded, nothing sent.
        expect(await runProcess([update('n', 't0')])).to.deep.equal({ 'no-consent': 1 });
        expect(await runProcess([update('y', 't1')])).to.deep.equal({});
        expect(statuses()).to.deep.equal(['realized']);
        // Withdrawn, in a new process: one exited; a second withdrawal right after: silence.
        expect(await runProcess([update('n', 't2'), update('n', 't3')])).to.deep.equal({ 'no-consent': 1 });
        expect(statuses()).to.deep.equal(['realized', 'exited']);
        // Restarted again: still silence.
        expect(await runProcess([update('n', 't4')])).to.deep.equal({ 'no-consent': 1 });
        expect(statuses()).to.deep.equal(['realized', 'exited']);
        // Consent given again: sent again, and a later withdrawal exits once more.
        await runProcess([update('y', 't5'), update('n', 't6')]);
        expect(statuses()).to.deep.equal(['realized', 'exited', 'realized', 'exited']);
      } finally {
        await Promise.all([feed.close(), standIn.close(), fixture.cleanup()]);
      }
    });
});
