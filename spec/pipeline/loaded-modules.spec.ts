import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliProcesses, finished } from '../helpers/cli.js';
import { API_TOKEN } from '../helpers/harness.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { tempDir } from '../helpers/temp.js';
import { TestWebSocketServer } from '../helpers/ws-server.js';

const PROBE = resolve('spec/helpers/module-probe.mjs');

/*
 * A long-lived `run` holds in memory only what its config uses (issue #13, goal 6: idle resident
 * memory): ioredis only with `redis:`, jose only with an OAuth intake, no other command's code.
 * Each case starts a real `run`, waits for it to connect to its feed, stops it, and reads which
 * modules it loaded (spec/helpers/module-probe.mjs, which sees ES modules and required CommonJS).
 */
describe('what a run loads (real processes)', function () {
  this.timeout(60_000);
  const processes = new CliProcesses();
  let feed: TestWebSocketServer | undefined;
  let fixture: RedisFixture | undefined;
  afterEach(async () => {
    processes.killAll();
    await feed?.close();
    await fixture?.cleanup();
    fixture = undefined;
  });

  /** The modules (URLs or paths) a `run` of one flow loaded, with `extra` config lines. */
  const modulesOfRun = async (extra: string): Promise<string[]> => {
    feed = await TestWebSocketServer.start();
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    const loaded = join(dir, 'modules.txt');
    writeFileSync(
      file,
      `
name: Loads
source: { websocket: { url: "${feed.url}" } }
destination: { url: "http://127.0.0.1:9/e", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
state: { dir: ${join(dir, 'state')} }
observability: { port: 0 }
${extra}
`,
    );
    const child = processes.start(['run', '--config', file], {
      NODE_OPTIONS: `--import "${PROBE}"`,
      MODULE_PROBE_FILE: loaded,
    });
    const done = finished(child);
    await feed.connection(1);
    child.kill('SIGTERM');
    const { code, stderr } = await done;
    expect(code, stderr).to.equal(0);
    const modules = readFileSync(loaded, 'utf8').split('\n').filter(Boolean);
    // The probe's exit-time part (the required CommonJS modules) was written, and ends the list.
    expect(modules.at(-1)).to.equal('#exit');
    return modules;
  };
  const packageIn = (modules: readonly string[], name: string): boolean =>
    modules.some((m) => m.includes(`/node_modules/${name}/`));

  it('without redis: neither ioredis, jose nor the other commands (got, ws and lmdb it does)', async () => {
    const modules = await modulesOfRun('');
    // What it needs is seen: the probe is working (a required ioredis is seen too: the case below).
    expect(['got', 'ws', 'lmdb'].filter((name) => !packageIn(modules, name))).to.deep.equal([]);
    expect(['ioredis', 'jose', 'cli-progress'].filter((name) => packageIn(modules, name))).to.deep.equal([]);
    // dlq is run's too: the console redrives dead letters.
    const others = /pipeline\/(commands\/(history|forget|send-test|init|validate|test-cases)|demo\/|replay)/;
    expect(modules.filter((m) => others.test(m))).to.deep.equal([]);
  });

  it('with redis: ioredis, loaded when the connection is made', async () => {
    fixture = new RedisFixture();
    const modules = await modulesOfRun(`redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }`);
    // Required (connection.ts), so only the probe's exit-time list of required modules names it.
    expect(packageIn(modules, 'ioredis')).to.equal(true);
    expect(packageIn(modules, 'jose')).to.equal(false);
  });
});
