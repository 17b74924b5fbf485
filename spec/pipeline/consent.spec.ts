import { expect } from 'chai';
import { parseConfig } from '../../pipeline/config/load.js';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { silentLogger } from '../../pipeline/logger.js';
import { startFromConfig } from '../../pipeline/run.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { deadLetterFile, tempDir } from '../helpers/temp.js';
import { TestWebSocketServer } from '../helpers/ws-server.js';

/** Always the same qualification time: consent is not in the payload, so only it changes. */
const update = (consent: string, time = 'T1'): string =>
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
      /**
       * Runs one process: sends `updates` in order, waits for their outcomes, stops; answers the reasons excluded (and
       * duplicates).
       */
      let connections = 0;
      const runProcess = async (updates: string[]): Promise<Record<string, number>> => {
        const started = await startFromConfig(config, silentLogger());
        const socket = await feed.connection((connections += 1));
        for (const message of updates) socket.send(message);
        const counts = await started.flows[0]!.pipeline.ledger.whenSettled(updates.length);
        await started.stop();
        return { ...counts.excluded, ...(counts.duplicate > 0 ? { duplicate: counts.duplicate } : {}) };
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
        expect(await runProcess([update('n')])).to.deep.equal({ 'no-consent': 1 });
        expect(await runProcess([update('y')])).to.deep.equal({});
        expect(statuses()).to.deep.equal(['realized']);
        // Withdrawn, in a new process: one exited; the same withdrawal right after: silence (a duplicate, or
        // no-consent if it reached dedupe only once the first was delivered).
        const second = await runProcess([update('n'), update('n')]);
        expect([{ duplicate: 1 }, { 'no-consent': 1 }]).to.deep.include(second);
        expect(statuses()).to.deep.equal(['realized', 'exited']);
        // Restarted again: still silence.
        expect(await runProcess([update('n')])).to.deep.equal({ 'no-consent': 1 });
        expect(statuses()).to.deep.equal(['realized', 'exited']);
        // Consent given again, the payload as before the withdrawal: sent again, and a later withdrawal exits once
        // more.
        expect(await runProcess([update('y'), update('n')])).to.deep.equal({});
        expect(statuses()).to.deep.equal(['realized', 'exited', 'realized', 'exited']);
        // And again, in a new process.
        await runProcess([update('y')]);
        expect(statuses()).to.deep.equal(['realized', 'exited', 'realized', 'exited', 'realized']);
      } finally {
        await Promise.all([feed.close(), standIn.close(), fixture.cleanup()]);
      }
    });
});
