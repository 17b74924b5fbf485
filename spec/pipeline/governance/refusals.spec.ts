import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../../pipeline/config/load.js';
import { startFromConfig } from '../../../pipeline/run.js';
import { CliProcesses } from '../../helpers/cli.js';
import { captureLog } from '../../helpers/log-capture.js';
import { REDIS_URL, RedisFixture } from '../../helpers/redis.js';
import { deadLetterFile, tempDir } from '../../helpers/temp.js';
import { TestWebSocketServer } from '../../helpers/ws-server.js';

const writeConfig = (text: string): string => {
  const file = join(mkdtempSync(join(tmpdir(), 'qa-governance-')), 'config.yaml');
  writeFileSync(file, text);
  return file;
};

const flowYaml = (name: string, label: string): string => `
  - name: ${name}
    destination: { url: "https://x.qualtrics.com/e/${name}", apiToken: t, auth: header }
    audiences: [{ id: a1 }]
    identities: [{ source: Email, target: email }]
    attributes: [{ source: person.birthDate, target: birthDate }]
    governance: { labels: { person.birthDate: [${label}] } }`;

describe('governance: validate fails and run refuses a flow that breaks a data-usage policy', function () {
  this.timeout(30_000);
  const processes = new CliProcesses();
  afterEach(() => processes.killAll());

  it('validate: a C2-labelled person.birthDate sent to a third party fails, naming field, label, action and policy', async () => {
    const file = writeConfig(`
name: Survey
source: { websocket: { url: "ws://127.0.0.1:1" } }
flows:${flowYaml('fine', 'C9')}${flowYaml('births', 'C2')}
`);
    const result = await processes.run(['validate', '--config', file]);
    expect(result.stderr).to.equal(
      `${file}: 1 problem:\n  - flows[1].attributes[0].source maps person.birthDate, labelled C2: ` +
        'policy "C2: no export to a third party" forbids it for marketing action exportToThirdParty\n',
    );
    expect(result.code).to.equal(1);
  });

  it('validate: a C9-labelled field is allowed', async () => {
    const file = writeConfig(`
name: Survey
source: { websocket: { url: "ws://127.0.0.1:1" } }
flows:${flowYaml('fine', 'C9')}
`);
    const result = await processes.run(['validate', '--config', file]);
    expect(result.stderr).to.equal('');
    expect(result.code).to.equal(0);
  });

  it('the example config validates, and fails once its birth date is labelled C2', async () => {
    const example = await processes.run(['validate', '--config', 'examples/governance.yaml'], {
      QUALTRICS_API_TOKEN: 't',
    });
    expect(example.stderr).to.equal('');
    expect(example.code).to.equal(0);
    const text = readFileSync('examples/governance.yaml', 'utf8').replace(
      'person.birthDate: [C9]',
      'person.birthDate: [C2]',
    );
    const result = await processes.run(['validate', '--config', writeConfig(text)], { QUALTRICS_API_TOKEN: 't' });
    expect(result.stderr).to.include(
      'flows[0].attributes[1].source maps person.birthDate, labelled C2: policy "C2: no export to a third party" forbids it for marketing action exportToThirdParty',
    );
    expect(result.code).to.equal(1);
  });

  it('run: starts the other flows and logs why the refused one did not start; none left is an error', async () => {
    const feed = await TestWebSocketServer.start();
    const yaml = (flows: string) => `
name: Survey
source: { websocket: { url: "${feed.url}" } }
state: { dir: ${tempDir()} }
flows:${flows}
`;
    const { logger, lines } = captureLog();
    try {
      const started = await startFromConfig(
        parseConfig(yaml(flowYaml('fine', 'C9') + flowYaml('births', 'C2')), {}),
        logger,
      );
      expect(started.flows.map(({ flow }) => flow.name)).to.deep.equal(['fine']);
      await started.stop();
      const refusal = lines()
        .map((line) => JSON.parse(line) as { level: number; msg: string; flow?: string })
        .find((line) => line.flow === 'births');
      expect(refusal?.level).to.equal(50);
      expect(refusal?.msg).to.equal(
        'flow births not started: it breaks a data-usage policy: flows[1].attributes[0].source maps ' +
          'person.birthDate, labelled C2: policy "C2: no export to a third party" forbids it for marketing action exportToThirdParty',
      );
      let error: unknown;
      await startFromConfig(parseConfig(yaml(flowYaml('births', 'C2')), {}), logger).catch((e: unknown) => (error = e));
      expect(String(error)).to.match(
        /^Error: no flow may start: flows\[0\]\.attributes\[0\]\.source maps person\.birthDate/,
      );
    } finally {
      await feed.close();
    }
  });

  it('replay and dlq redrive refuse a flow that breaks a policy, with run’s message; dlq list still shows its letters', async () => {
    const fixture = new RedisFixture();
    const redis = fixture.connect();
    const stream = `${fixture.prefix}:feed`;
    await redis.xadd(stream, '*', 'profile', '{}');
    const letters = deadLetterFile();
    const file = writeConfig(`
name: Survey
source: { websocket: { url: "ws://127.0.0.1:1" } }
redis: { url: "${REDIS_URL}", prefix: "${fixture.prefix}" }
flows:${flowYaml('births', 'C2')}
    deadLetters: { file: ${letters} }
`);
    const refusal =
      'flow births not started: it breaks a data-usage policy: flows[0].attributes[0].source maps ' +
      'person.birthDate, labelled C2: policy "C2: no export to a third party" forbids it for marketing action exportToThirdParty\n';
    try {
      const replay = await processes.run(['replay', '--config', file, '--stream', stream]);
      expect(replay.stderr).to.equal(refusal);
      expect(replay.code).to.equal(1);
      const redrive = await processes.run(['dlq', 'redrive', '--config', file]);
      expect(redrive.stderr).to.equal(refusal);
      expect(redrive.code).to.equal(1);
      const list = await processes.run(['dlq', 'list', '--config', file]);
      expect(list.stderr).to.equal('');
      expect(list.code).to.equal(0);
    } finally {
      await fixture.cleanup();
    }
  });
});
