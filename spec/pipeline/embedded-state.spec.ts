import { expect } from 'chai';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { CliProcesses, finished, runCli } from '../helpers/cli.js';
import { API_TOKEN, updateFor } from '../helpers/harness.js';
import { tempDir } from '../helpers/temp.js';
import { eventually, TestWebSocketServer } from '../helpers/ws-server.js';

describe('without Redis: the embedded state survives a restart (real processes)', function () {
  this.timeout(60_000);
  const processes = new CliProcesses();
  let standIn: QualtricsStandIn;
  let feed: TestWebSocketServer;
  afterEach(async () => {
    processes.killAll();
    await standIn?.close();
    await feed?.close();
  });

  it('does not send the same surveys again after a restart, keeps files beside the config, and shows the history after it stopped', async () => {
    standIn = await QualtricsStandIn.start({
      apiToken: API_TOKEN,
      respond: (r) => (r.body.includes('bad@') ? { status: 400 } : undefined),
    });
    feed = await TestWebSocketServer.start();
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    // Relative paths: they mean the config's directory, not wherever `run` was started (here: the checkout).
    writeFileSync(
      file,
      `
name: Restarted
source: { websocket: { url: "${feed.url}" } }
destination: { url: "${standIn.url}", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
attributes: [{ source: person.name.firstName, target: firstName }]
deadLetters: { file: letters/dead.jsonl }
state: { dir: state }
observability: { port: 0 }
`,
    );
    const updates = ['ann', 'ben', 'cy', 'bad'].map((name) => JSON.stringify(updateFor(`${name}@example.com`)));

    /** Runs until the endpoint has had `requests` in all (the stop lets them settle), then stops. */
    const runOnce = async (requests: number): Promise<string> => {
      const child = processes.start(['run', '--config', file]);
      const done = finished(child);
      const socket = await feed.connection(feed.connections.length + 1);
      for (const update of updates) socket.send(update);
      await eventually(() => standIn.requests.length >= requests, 10_000, `${requests} requests`);
      child.kill('SIGTERM');
      const { code, stderr } = await done;
      expect(code).to.equal(0);
      return stderr;
    };

    await runOnce(4);
    expect(standIn.requests).to.have.length(4);
    // Only the refused one goes again: it was not delivered, so it is not remembered as sent.
    const second = await runOnce(5);
    expect(standIn.requests, 'the restarted process remembered what it delivered').to.have.length(5);
    expect(standIn.requests[4]!.body.toString()).to.contain('bad@example.com');
    expect(second).to.contain('"duplicate":3');

    expect(existsSync(join(dir, 'letters', 'dead.jsonl')), 'dead letters beside the config').to.equal(true);
    expect(existsSync(join(dir, 'state', 'restarted')), 'state beside the config').to.equal(true);
    const history = await runCli(['history', '--config', file, '--limit', '20']);
    expect(history.code).to.equal(0);
    expect(history.stdout.split('\n').filter((line) => line.includes('duplicate'))).to.have.length(3);
    expect(history.stdout).to.contain('failed http-400');
    expect(history.stdout).not.to.contain('ann@example.com');
  });
});
