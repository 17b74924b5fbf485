import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { CliProcesses, runCli as runCliOnce } from '../helpers/cli.js';
import { API_TOKEN, Harness, updateFor } from '../helpers/harness.js';
import { REDIS_URL, RedisFixture } from '../helpers/redis.js';
import { tempDir } from '../helpers/temp.js';
import { QualtricsStandIn } from '../../pipeline/demo/qualtrics-stand-in.js';

const run = promisify(execFile);
const UUID = '5b6f8f7e-3d1c-4a57-9a8e-2f0c6d1e4b21';

const write = (text: string, name = 'config.yaml'): string => {
  const file = join(tempDir('qa-first-hour-'), name);
  writeFileSync(file, text);
  return file;
};

/** What a new user runs into in the first hour, each fixed and kept fixed. */
describe('the first hour', function () {
  this.timeout(60_000);
  const processes = new CliProcesses();
  afterEach(() => processes.killAll());
  const runCli = (args: readonly string[], env?: NodeJS.ProcessEnv) => processes.run(args, env);

  describe('validate', () => {
    it('reports every problem in one pass: the host check and plug-ins together with the codec errors', async () => {
      const file = write(`
name: One pass
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://example.com/event", username: u, apiToken: t, retries: 3 }
identities: [{ source: Email, target: email }]
operators: [{ use: ./no-such-plugin.mjs }]
`);
      const { code, stderr } = await runCli(['validate', '--config', file]);
      expect(code).to.equal(1);
      expect(stderr).to.contain('destination.retries: unknown key (expected one of:');
      expect(stderr).to.contain('did you mean "retry"?');
      expect(stderr).to.contain('audiences: missing');
      expect(stderr).to.contain('destination.url: expected a host under qualtrics.com, got "example.com"');
      expect(stderr).to.contain('operators[0].use: cannot load "./no-such-plugin.mjs"');
    });

    it('warns about audience ids that are not UUIDs, the form AEP uses', async () => {
      const file = write(`
name: Ids
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://iad1.qualtrics.com/e", username: u, apiToken: t }
audiences: [{ id: ${UUID} }, { id: Loyalty members }]
identities: [{ source: Email, target: email }]
`);
      const { code, stdout } = await runCli(['validate', '--config', file]);
      expect(code).to.equal(0);
      expect(stdout).to.contain('warning: audience id "Loyalty members" is not a UUID');
      expect(stdout).not.to.contain(`audience id "${UUID}"`);
    });

    it('shows the line of a YAML syntax error', async () => {
      // A missing line break: the person forgot to start apiToken on a line of its own.
      const file = write('name: Broken\ndestination:\n  url: "https://x.qualtrics.com/e" apiToken: t\n  auth: basic\n');
      const { code, stderr } = await runCli(['validate', '--config', file]);
      expect(code).to.equal(1);
      expect(stderr).to.contain(
        'YAML syntax at line 3, column 8: Nested mappings are not allowed in compact mappings: ' +
          '"  url: \\"https://x.qualtrics.com/e\\" apiToken: t"',
      );
    });
  });

  describe('test', () => {
    const config = (target: string) => `
config:
  name: T
  source: { websocket: { url: "ws://127.0.0.1:1" } }
  destination: { url: "https://iad1.qualtrics.com/e", username: u, apiToken: "\${NO_SUCH_TOKEN}" }
  audiences: [{ id: a1 }]
  identities: [{ source: Email, target: email }]
  attributes: [{ source: person.name.firstName, target: "${target}" }]
`;
    const input = `
    input:
      person: { name: { firstName: Ann } }
      identityMap: { Email: [{ id: ann@example.com }] }
      segmentMembership: { ups: { a1: { status: realized } } }`;

    it('a missing file is an error message, not a stack trace', async () => {
      const { code, stderr } = await runCli(['test', 'no/such.test.yaml']);
      expect(code).to.equal(1);
      expect(stderr).to.equal(
        'no/such.test.yaml: 1 problem:\n' +
          "  - cannot read the test file: ENOENT: no such file or directory, open 'no/such.test.yaml'\n",
      );
    });

    it('a payload mismatch shows a diff, keys in the order they were sent', async () => {
      const file = write(
        `${config('firstName')}cases:
  - name: wrong name${input}
    expect:
      payload:
        segmentMembership: { ups: { a1: { status: realized } } }
        identityMap: { Email: [{ id: ann@example.com }] }
        firstName: Bob
`,
        'x.test.yaml',
      );
      const { code, stdout } = await runCli(['test', file]);
      expect(code).to.equal(1);
      expect(stdout).to.contain('payload differs (- expected, + sent):');
      expect(stdout).to.contain('-   "firstName": "Bob"');
      expect(stdout).to.contain('+   "firstName": "Ann"');
      expect(stdout).to.contain('      {\n');
    });

    it('honours ${VAR:-default} fallbacks', async () => {
      const file = write(
        `${config('${NAME_FIELD:-givenName}')}cases:
  - name: the fallback names the field${input}
    expect:
      payload:
        segmentMembership: { ups: { a1: { status: realized } } }
        identityMap: { Email: [{ id: ann@example.com }] }
        givenName: Ann
`,
        'fallback.test.yaml',
      );
      const { code, stdout } = await runCli(['test', file]);
      expect(stdout).to.contain('1 passed, 0 failed');
      expect(code).to.equal(0);
    });
  });

  it('bad option values are errors', async () => {
    for (const args of [
      ['history', '--config', 'examples/config.yaml', '--limit', 'abc'],
      ['dlq', 'list', '--config', 'examples/config.yaml', '--limit', '0'],
    ]) {
      const { code, stderr } = await runCli(args);
      expect(code, args.join(' ')).to.equal(1);
      expect(stderr).to.contain("option '--limit <n>' argument");
      expect(stderr).to.contain('expected a whole number of at least 1');
    }
  });

  describe('replay, history and dead letters (real Redis)', () => {
    let fixture: RedisFixture;
    let standIn: QualtricsStandIn;
    beforeEach(async () => {
      fixture = new RedisFixture();
      standIn = await QualtricsStandIn.start({ apiToken: API_TOKEN });
    });
    afterEach(async () => {
      processes.killAll();
      await standIn.close();
      await fixture.cleanup();
    });
    const configFile = (url: string) =>
      write(`
name: Replayed
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "${url}", apiToken: ${API_TOKEN}, auth: header, allowAnyHost: true }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }
`);

    it('replay of a stream that does not exist is an error', async () => {
      const { code, stderr } = await runCli([
        'replay',
        '--config',
        configFile(standIn.url),
        '--stream',
        `${fixture.prefix}:nothing`,
      ]);
      expect(code).to.equal(1);
      expect(stderr).to.contain(`--stream: there is no stream "${fixture.prefix}:nothing"`);
    });

    it('replay of entries holding arrays never shows more than 100 %, and its outcomes are in history', async () => {
      const redis = fixture.connect();
      const stream = `${fixture.prefix}:updates`;
      for (let entry = 0; entry < 3; entry++)
        await redis.xadd(
          stream,
          '*',
          'profile',
          JSON.stringify(Array.from({ length: 4 }, (_, i) => updateFor(`p${entry}-${i}@example.com`))),
        );
      const file = configFile(standIn.url);
      const replay = await runCli(['replay', '--config', file, '--stream', stream]);
      expect(replay.stdout).to.contain(`replayed 3 entries of ${stream}: delivered 12`);
      const percents = [...replay.stderr.matchAll(/replay ([\d.]+)%/g)].map((m) => Number(m[1]));
      expect(percents).to.not.be.empty;
      expect(Math.max(...percents)).to.equal(100);
      const history = await runCli(['history', '--config', file]);
      expect(history.stdout.match(/delivered +202/g)).to.have.length(12);
      expect(history.stdout).to.contain('Email:p***@example.com');
    });

    it('dlq list is aligned, takes --reason, --limit and --json, and masks identities as history does', async () => {
      const harness = await Harness.start({
        topLevel: `redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }`,
        respond: (request) =>
          request.body.includes('bad')
            ? { status: 400, body: { error: 'unknown field' } }
            : request.body.includes('gone')
              ? { status: 410, body: { error: 'gone' } }
              : undefined,
      });
      try {
        harness.send(updateFor('bad1@example.com'), updateFor('bad2@example.com'), updateFor('gone@example.com'));
        await harness.started.flows[0]!.pipeline.ledger.whenSettled(3);
      } finally {
        await harness.stop();
      }
      const file = configFile(harness.standIn.url);
      const all = await runCli(['dlq', 'list', '--config', file]);
      expect(all.code).to.equal(0);
      const rows = all.stdout.trim().split('\n').slice(0, -1);
      expect(rows).to.have.length(4);
      const column = rows[0]!.indexOf('reason');
      for (const row of rows.slice(1)) expect(row.slice(column)).to.match(/^http-4\d\d /);
      expect(all.stdout).to.contain('3 dead letter(s): http-400 2, http-410 1');
      expect(all.stdout).to.match(/email:b\*\*\*@example\.com/);
      expect(all.stdout).not.to.contain('bad1@example.com');

      const gone = await runCli(['dlq', 'list', '--config', file, '--reason', 'http-410']);
      expect(gone.stdout).to.contain('1 dead letter(s): http-410 1');
      const one = await runCli(['dlq', 'list', '--config', file, '--limit', '1']);
      expect(one.stdout).to.match(/\n1 \(of 3\) dead letter\(s\)/);
      const json = await runCli(['dlq', 'list', '--config', file, '--json', '--reason', 'http-400']);
      const letters = json.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { reason: string; identity: string; http: string });
      expect(letters.map(({ reason, identity, http }) => ({ reason, identity, http }))).to.deep.equal([
        { reason: 'http-400', identity: 'email:b***@example.com', http: '400' },
        { reason: 'http-400', identity: 'email:b***@example.com', http: '400' },
      ]);
    });
  });

  it('npm start does not rebuild when nothing changed (the build-if-stale check)', async () => {
    const root = tempDir('qa-stale-');
    mkdirSync(join(root, 'pipeline'));
    mkdirSync(join(root, 'dist', 'pipeline'), { recursive: true });
    writeFileSync(
      join(root, 'package.json'),
      JSON.stringify({ name: 'x', scripts: { build: "node -e \"require('fs').writeFileSync('built', 'yes')\"" } }),
    );
    writeFileSync(join(root, 'pipeline', 'a.ts'), '');
    const cli = join(root, 'dist', 'pipeline', 'cli.js');
    writeFileSync(cli, '');
    const past = new Date(Date.now() - 60_000);
    for (const path of [join(root, 'package.json'), join(root, 'pipeline', 'a.ts')]) utimesSync(path, past, past);
    const script = resolve('scripts/build-if-stale.mjs');
    const fresh = await run(process.execPath, [script, root]);
    expect(fresh.stdout).to.equal('build is up to date\n');
    expect(() => statSync(join(root, 'built'))).to.throw();
    utimesSync(join(root, 'pipeline', 'a.ts'), new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
    const stale = await run(process.execPath, [script, root]);
    expect(stale.stdout).to.contain('sources changed since the last build: building');
    expect(statSync(join(root, 'built')).isFile()).to.equal(true);
  });
});

describe('the README, as a new user reads it', function () {
  this.timeout(30_000);
  const readme = readFileSync('README.md', 'utf8');

  it('has Install, Deploy and Start a new flow sections, and documents the input', () => {
    for (const section of ['Install', 'Deploy', 'Start a new flow', 'The input: what an update looks like'])
      expect(readme).to.contain(`\n## ${section}\n`);
  });

  it('quotes the error the program really prints for a bad URL', async () => {
    const quoted = /\(`(destination\.url: expected [^`]+)`\)/.exec(readme)![1]!;
    const file = write(`
name: Readme
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "htp://x", username: u, apiToken: t }
audiences: [{ id: ${UUID} }]
identities: [{ source: Email, target: email }]
`);
    const { stderr } = await runCliOnce(['validate', '--config', file]);
    expect(stderr).to.contain(`  - ${quoted}\n`);
  });

  it('uses audience ids the program accepts without a warning, and its complete update example qualifies', () => {
    // Every audience id in a YAML example (`audiences: [{ id: ... }]` or `- { id: ..., name: ... }`).
    const ids = [...readme.matchAll(/(?:audiences: \[\{ id|- \{ id): ([^,}\s]+)/g)].map((m) => m[1]!);
    expect(ids).to.not.be.empty;
    for (const id of ids) expect(id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const example = /## The input: what an update looks like[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)![1]!;
    const update = JSON.parse(example) as { segmentMembership: { ups: Record<string, unknown> } };
    expect(Object.keys(update.segmentMembership.ups)).to.deep.equal([UUID]);
  });
});
