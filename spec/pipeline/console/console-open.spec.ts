import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import got from 'got';
import { CliProcesses } from '../../helpers/cli.js';
import { API_TOKEN } from '../../helpers/harness.js';
import { freePort } from '../../helpers/ports.js';
import { deadLetterFile, tempDir } from '../../helpers/temp.js';
import { eventually, TestWebSocketServer } from '../../helpers/ws-server.js';

describe('the console without access (a real run process)', function () {
  this.timeout(30_000);
  const processes = new CliProcesses();
  afterEach(() => processes.killAll());

  it('serves on loopback, says it is open, refuses a foreign Host and a change without the CSRF token', async () => {
    const feed = await TestWebSocketServer.start();
    const port = await freePort();
    const file = join(tempDir(), 'config.yaml');
    writeFileSync(
      file,
      `
name: Open
source: { websocket: { url: "${feed.url}" } }
state: { dir: ${tempDir()} }
destination: { url: "http://127.0.0.1:1/e", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
deadLetters: { file: ${deadLetterFile()} }
observability: { port: ${port} }
`,
    );
    processes.start(['run', '--config', file]);
    const base = `http://127.0.0.1:${port}`;
    try {
      await eventually(
        async () => (await got(`${base}/`, { throwHttpErrors: false }).catch(() => undefined))?.statusCode === 200,
        15_000,
        'the console',
      );
      const page = await got(`${base}/`);
      expect(page.body).to.include('No access configured: served on loopback only');
      expect(page.headers['content-security-policy']).to.include("default-src 'self'");
      const foreign = await got(`${base}/`, { headers: { host: `evil.example:${port}` }, throwHttpErrors: false });
      expect(foreign.statusCode).to.equal(403);
      const pause = await got.post(`${base}/api/flows/open/pause`, { throwHttpErrors: false });
      expect(pause.statusCode).to.equal(403);
      expect(pause.body).to.include('x-csrf-token');
      const badBody = await got.post(`${base}/api/flows/open/dead-letters/discard`, {
        headers: { 'x-csrf-token': /name="csrf-token" content="([^"]+)"/.exec(page.body)![1]! },
        json: { ids: 'all' },
        throwHttpErrors: false,
      });
      expect(badBody.statusCode).to.equal(400);
      expect(badBody.body).to.include('the body must be');
      expect((await got(`${base}/metrics`)).statusCode).to.equal(200);
    } finally {
      await feed.close();
    }
  });
});
