import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { CliProcesses, finished } from '../helpers/cli.js';
import { API_TOKEN, updateFor } from '../helpers/harness.js';
import { tempDir } from '../helpers/temp.js';
import { eventually, TestWebSocketServer } from '../helpers/ws-server.js';

/*
 * Found by the flows benchmark: with the embedded store (LMDB), a process whose grace period ran out
 * while it was still writing called process.exit and then hung for good: its main thread waited on an
 * LMDB worker that waited on it (lmdb-js #336). It happened in about one stop in two; three stops in a
 * row all exiting leaves a one-in-eight chance that the bug passes unseen.
 */
describe('stopping with the embedded store while it writes (real processes)', function () {
  this.timeout(90_000);
  const processes = new CliProcesses();
  let standIn: QualtricsStandIn | undefined;
  let feed: TestWebSocketServer | undefined;
  afterEach(async () => {
    processes.killAll();
    await standIn?.close();
    await feed?.close();
  });

  it('exits within seconds of SIGTERM when the grace period is over, however busy the store is', async () => {
    standIn = await QualtricsStandIn.start({ apiToken: API_TOKEN });
    feed = await TestWebSocketServer.start();
    for (let round = 0; round < 3; round += 1) {
      const dir = tempDir();
      const file = join(dir, 'config.yaml');
      writeFileSync(
        file,
        `
name: Busy
source: { websocket: { url: "${feed.url}" } }
destination: { url: "${standIn.url}", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true, concurrency: 32, rateLimit: { requests: 1000000, perSeconds: 1 } }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
state: { dir: ${join(dir, 'state')} }
deadLetters: { file: ${join(dir, 'dead-letters.jsonl')} }
observability: { port: 0 }
shutdownGraceMs: 0
`,
      );
      const child = processes.start(['run', '--config', file]);
      const done = finished(child);
      const socket = await feed.connection(round + 1);
      for (let i = 0; i < 20_000; i += 1) socket.send(JSON.stringify(updateFor(`r${round}-p${i}@example.com`)));
      const before = standIn.requests.length;
      await eventually(() => standIn!.requests.length > before + 500, 30_000, 'deliveries under way');
      const stoppedAt = Date.now();
      child.kill('SIGTERM');
      const exited = await Promise.race([
        done.then(() => Date.now() - stoppedAt),
        new Promise<string>((r) => setTimeout(() => r('hung'), 15_000)),
      ]);
      expect(exited, `round ${round + 1}`)
        .to.be.a('number')
        .and.below(10_000);
    }
  });
});
