import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';
import { finished } from '../helpers/cli.js';
import { API_TOKEN, updateFor } from '../helpers/harness.js';
import { installedPrefix, packedTarball } from '../helpers/packed.js';
import { tempDir } from '../helpers/temp.js';
import { eventually, TestWebSocketServer } from '../helpers/ws-server.js';

const run = promisify(execFile);
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

describe('the package, installed from its tarball into a temporary prefix, run from another directory', function () {
  this.timeout(300_000);
  let cli: string;
  let elsewhere: string;
  before(async () => {
    cli = join(await installedPrefix(), 'bin', 'qualtrics-automations');
    elsewhere = tempDir('qa-elsewhere-');
  });
  // Only the PATH: nothing from this checkout (no tsx loader, no NODE_PATH) helps the installed CLI.
  const qa = (args: readonly string[], env: NodeJS.ProcessEnv = {}) =>
    run(cli, [...args], { cwd: elsewhere, env: { PATH: process.env.PATH, ...env } });

  it('holds the built code, the examples, the README and the LICENSE, and no tests or TypeScript sources', async () => {
    const { stdout } = await run('tar', ['-tzf', await packedTarball()]);
    const files = stdout.trim().split('\n');
    expect(files).to.include.members([
      'package/LICENSE',
      'package/README.md',
      'package/bin/qualtrics-automations.js',
      'package/dist/pipeline/cli.js',
      'package/dist/operators/index.d.ts',
      'package/dist/config.schema.json',
      'package/examples/config.yaml',
    ]);
    expect(files.filter((f) => /(^package\/spec\/|\.spec\.|(?<!\.d)\.ts$|\.map$)/.test(f))).to.deep.equal([]);
    expect(readFileSync('LICENSE', 'utf8')).to.match(/^MIT License/);
    expect((JSON.parse(readFileSync('package.json', 'utf8')) as { license: string }).license).to.equal('MIT');
  });

  it('answers --version', async () => {
    expect((await qa(['--version'])).stdout.trim()).to.equal(VERSION);
  });

  it('runs init, validate and test', async () => {
    await qa(['init', '--yes', 'flow']);
    const secrets = { QUALTRICS_API_TOKEN: 'x', FEED_TOKEN: 'y' };
    const validate = await qa(['validate', '--config', 'flow/config.yaml'], secrets);
    expect(validate.stdout).to.contain('flow/config.yaml: OK');
    const test = await qa(['test', 'flow/config.test.yaml']);
    expect(test.stdout).to.contain('2 passed, 0 failed');
  });

  it('runs the pipeline: takes an update from a feed, delivers it, and stops cleanly on SIGTERM', async () => {
    const feed = await TestWebSocketServer.start();
    const standIn = await QualtricsStandIn.start({ apiToken: API_TOKEN });
    try {
      const config = join(elsewhere, 'run.yaml');
      writeFileSync(
        config,
        `
name: Installed
source: { websocket: { url: "${feed.url}" } }
destination: { url: "${standIn.url}", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
observability: { port: 0 }
state: { dir: state }
deadLetters: { file: dead-letters.jsonl }
`,
      );
      const child = spawn(cli, ['run', '--config', 'run.yaml'], {
        cwd: elsewhere,
        env: { PATH: process.env.PATH },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const exit = finished(child);
      (await feed.connection(1)).send(JSON.stringify(updateFor('ann@example.com')));
      await eventually(() => standIn.requests.length === 1, 20_000);
      child.kill('SIGTERM');
      const { code, stderr } = await exit;
      expect(code).to.equal(0);
      // Logs go to stderr: the run ends having settled what it took.
      expect(stderr).to.contain('"detail":"every update settled","msg":"pipeline stopped"');
      expect(standIn.requests[0]!.body.toString('utf8')).to.contain('ann@example.com');
    } finally {
      await standIn.close();
      await feed.close();
    }
  });
});
