import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Config } from '../../../pipeline/config/codec.js';
import { configSchema } from '../../../pipeline/config/config-schema.js';
import { joinPath } from '../../../pipeline/config/errors.js';
import { applyEnvOverrides, envKeyOf, envKeysOf, envNameOf } from '../../../pipeline/config/env-config.js';
import { ConfigError, configOf, loadConfig, originLines, readConfigInput } from '../../../pipeline/config/load.js';
import { Secret } from '../../../pipeline/config/secret.js';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { CliProcesses, liveOutput, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/temp.js';
import { eventually } from '../../helpers/ws-server.js';

const SECRETS = { QUALTRICS_API_TOKEN: 'token', FEED_TOKEN: 'feed' };

/** A config as plain data, secrets revealed (they print as [redacted] otherwise), key order aside. */
const comparable = (config: Config): unknown =>
  JSON.parse(
    JSON.stringify(config, function (this: unknown, key) {
      const value = (this as Record<string, unknown>)[key];
      return value instanceof Secret ? `secret:${value.reveal()}` : value;
    }),
  );

/**
 * A parsed config as `QA_<PATH>` variables, one per key the naming rule reaches: sections and lists of
 * sections are followed down to their keys (`QA_FLOWS_1_DESTINATION_URL`), other lists and maps are given
 * whole as JSON.
 */
const asVariables = (
  value: Record<string, unknown> | unknown[],
  path: (string | number)[] = [],
): Record<string, string> => {
  const names = envKeysOf(configSchema());
  const variables: Record<string, string> = {};
  const section = (item: unknown): item is Record<string, unknown> =>
    typeof item === 'object' && item !== null && !Array.isArray(item);
  for (const [key, item] of Object.entries(value)) {
    const at = [...path, Array.isArray(value) ? Number(key) : key];
    const name = envNameOf(at);
    expect(envKeyOf(name, names), name).not.to.equal(undefined);
    const children = section(item) ? Object.keys(item) : Array.isArray(item) && item.every(section) ? item.keys() : [];
    const reachable =
      (section(item) || (Array.isArray(item) && item.length > 0 && item.every(section))) &&
      [...children].every((child) => envKeyOf(envNameOf([...at, child]), names) !== undefined);
    if (reachable) Object.assign(variables, asVariables(item as Record<string, unknown>, at));
    else variables[name] = typeof item === 'string' ? item : JSON.stringify(item);
  }
  return variables;
};

/** Loads a config with `examples/` as the working directory, where the file form anchors its paths. */
const inExamples = async <A>(load: () => Promise<A>): Promise<A> => {
  const before = process.cwd();
  process.chdir('examples');
  try {
    return await load();
  } finally {
    process.chdir(before);
  }
};

describe('configuration from the environment', function () {
  this.timeout(30_000);
  const processes = new CliProcesses();
  afterEach(() => processes.killAll());
  const file = parse(readFileSync('examples/config.yaml', 'utf8')) as Record<string, unknown>;

  it('names each key QA_ and its path in upper snake case', () => {
    expect(envNameOf(['destination', 'url'])).to.equal('QA_DESTINATION_URL');
    expect(envNameOf(['destination', 'rateLimit', 'requests'])).to.equal('QA_DESTINATION_RATE_LIMIT_REQUESTS');
    expect(envNameOf(['source', 'http', 'auth', 'oauth2', 'clientId'])).to.equal(
      'QA_SOURCE_HTTP_AUTH_OAUTH2_CLIENT_ID',
    );
    const names = envKeysOf(configSchema());
    // Derived from the codec: the keys of both forms, and of every source.
    for (const name of [
      'QA_NAME',
      'QA_FLOWS',
      'QA_PIPELINE_MAX_IN_FLIGHT',
      'QA_SOURCE_WEBSOCKET_LISTEN_PORT',
      'QA_REDIS_URL',
    ])
      expect(names.has(name), name).to.equal(true);
  });

  it('QA_<PATH> variables, one per key, decode to the same config as the file', async () => {
    const variables = asVariables(file);
    expect(variables).to.include({
      QA_DESTINATION_URL: 'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlId=SV_example',
      QA_DESTINATION_RATE_LIMIT_REQUESTS: '3000',
      QA_DESTINATION_ALLOW_ANY_HOST: 'false',
    });
    const fromFile = await loadConfig('examples/config.yaml', SECRETS);
    const fromEnv = await inExamples(() => loadConfig(undefined, { ...SECRETS, ...variables }));
    expect(comparable(fromEnv)).to.deep.equal(comparable(fromFile));
  });

  it('QA_CONFIG holds a whole config, and QA_<PATH> variables win over it', async () => {
    const text = readFileSync('examples/config.yaml', 'utf8');
    const fromFile = await loadConfig('examples/config.yaml', SECRETS);
    const whole = await inExamples(() => loadConfig(undefined, { ...SECRETS, QA_CONFIG: text }));
    expect(comparable(whole)).to.deep.equal(comparable(fromFile));
    const overridden = await inExamples(() =>
      loadConfig(undefined, { ...SECRETS, QA_CONFIG: text, QA_DESTINATION_TIMEOUT_MS: '2500' }),
    );
    expect(overridden.flows[0]!.destination.timeoutMs).to.equal(2500);
  });

  it('a variable naming no key is a warning (with the nearest name), a value of the wrong kind an error', async () => {
    const input = await readConfigInput('examples/config.yaml', {
      ...SECRETS,
      QA_ENV: 'staging',
      QA_DESTINATON_URL: 'https://x.qualtrics.com/e',
    });
    expect(input.problems).to.deep.equal([]);
    expect(input.warnings).to.deep.equal([
      'environment variable QA_ENV names no config key: ignored',
      'environment variable QA_DESTINATON_URL names no config key: ignored (did you mean QA_DESTINATION_URL?)',
    ]);
    const error = await loadConfig('examples/config.yaml', {
      ...SECRETS,
      QA_DESTINATON_URL: 'https://x.qualtrics.com/e',
      QA_DESTINATION_TIMEOUT_MS: 'soon',
    }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).problems).to.deep.equal([
      'destination.timeoutMs: from QA_DESTINATION_TIMEOUT_MS: expected a number, got "soon"',
    ]);
    // The warning comes with the error: the misspelt variable may be why a value is missing.
    expect((error as ConfigError).message).to.contain(
      '\nwarning: environment variable QA_DESTINATON_URL names no config key: ignored (did you mean QA_DESTINATION_URL?)',
    );
  });

  it('an unrelated QA_ variable stops no command: validate prints the warning, run logs it', async () => {
    const env = { ...SECRETS, QA_ENV: 'staging' };
    const validated = await runCli(['validate', '--config', 'examples/config.yaml'], env);
    expect(validated.stderr).to.equal('');
    expect(validated.code).to.equal(0);
    expect(validated.stdout).to.contain(
      'warning: environment variable QA_ENV names no config key: ignored\nwhere values came from:',
    );
    const dir = tempDir('qa-env-warning-');
    const file = join(dir, 'config.yaml');
    writeFileSync(
      file,
      [
        'name: Env warning',
        'source: { websocket: { url: "ws://127.0.0.1:1" } }',
        'destination: { url: "https://x.qualtrics.com/e", apiToken: "${QUALTRICS_API_TOKEN}", auth: header }',
        'audiences: [{ id: 5b6f8f7e-3d1c-4a57-9a8e-2f0c6d1e4b21 }]',
        'identities: [{ source: Email, target: email }]',
        'observability: { port: 0 }',
        'state: { dir: state }',
      ].join('\n'),
    );
    const child = processes.start(['run', '--config', file], { ...env, LOG_LEVEL: 'warn' });
    const output = liveOutput(child);
    await eventually(() =>
      /"level":40.*environment variable QA_ENV names no config key/.test(output.stderr() + output.stdout()),
    );
  });

  it('QA_FLOWS_<N>_<PATH> variables set each flow by its index: a two-flow config from them equals the file', async () => {
    const file = parse(readFileSync('examples/flows.yaml', 'utf8')) as Record<string, unknown>;
    const variables = asVariables(file);
    expect(variables).to.include({
      QA_FLOWS_0_NAME: 'post-purchase',
      QA_FLOWS_1_NAME: 'churn-risk',
      QA_FLOWS_0_DESTINATION_RATE_LIMIT_SHARE: '2',
      QA_FLOWS_1_DESTINATION_URL:
        'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=churn-token',
      QA_FLOWS_1_AUDIENCES_0_ID: '9c2d4e6f-1a3b-4c5d-8e7f-0a1b2c3d4e5f',
    });
    expect(Object.keys(variables)).not.to.include('QA_FLOWS');
    const fromFile = await loadConfig('examples/flows.yaml', SECRETS);
    expect(fromFile.flows).to.have.length(2);
    const fromEnv = await inExamples(() => loadConfig(undefined, { ...SECRETS, ...variables }));
    expect(comparable(fromEnv)).to.deep.equal(comparable(fromFile));
    // Over the file: one flow's key changed, the other flow untouched.
    const changed = await loadConfig('examples/flows.yaml', { ...SECRETS, QA_FLOWS_1_DESTINATION_TIMEOUT_MS: '2500' });
    expect(changed.flows.map((flow) => flow.destination.timeoutMs)).to.deep.equal([10_000, 2500]);
  });

  it('a flow index with no flow before it is a problem naming the missing entry', () => {
    const { problems } = applyEnvOverrides(undefined, { QA_FLOWS_1_NAME: 'churn' }, configSchema());
    expect(problems).to.deep.equal([
      {
        path: ['flows', 0],
        message:
          'missing: QA_FLOWS_1_NAME sets a later entry, so this one must be set too (QA_FLOWS_0_<KEY> variables, or the whole list)',
      },
    ]);
  });

  it('validate names the variable of a flow key and the file of a secret', async () => {
    const dir = tempDir('qa-env-origins-');
    writeFileSync(join(dir, 'token'), 'token-from-a-file\n');
    const input = await readConfigInput('examples/flows.yaml', {
      ...SECRETS,
      QA_FLOWS_1_DESTINATION_URL: 'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlTokenId=x',
      // Wins over the file's apiToken, as a variable wins: one of the two is left.
      QA_FLOWS_1_DESTINATION_API_TOKEN_FILE: join(dir, 'token'),
    });
    expect(originLines(input)).to.include.members([
      'flows[0].destination.apiToken: examples/flows.yaml (${QUALTRICS_API_TOKEN})',
      'flows[1].destination.url: QA_FLOWS_1_DESTINATION_URL',
      `flows[1].destination.apiToken: the file ${join(dir, 'token')} (QA_FLOWS_1_DESTINATION_API_TOKEN_FILE)`,
    ]);
    const config = configOf(input, SECRETS);
    expect(config.flows[1]!.destination.apiToken.reveal()).to.equal('token-from-a-file');
    const both = applyEnvOverrides(
      undefined,
      { QA_DESTINATION_API_TOKEN: 't', QA_DESTINATION_API_TOKEN_FILE: 'f' },
      configSchema(),
    );
    expect(both.problems.map((problem) => problem.message)).to.deep.equal([
      'set QA_DESTINATION_API_TOKEN or QA_DESTINATION_API_TOKEN_FILE, not both',
    ]);
  });

  it('validate says where each value came from', async () => {
    const { code, stdout, stderr } = await runCli(['validate', '--config', 'examples/config.yaml'], {
      ...SECRETS,
      QA_DESTINATION_TIMEOUT_MS: '2500',
    });
    expect(stderr).to.equal('');
    expect(code).to.equal(0);
    expect(stdout).to.contain(
      [
        'where values came from:',
        '  destination.apiToken: examples/config.yaml (${QUALTRICS_API_TOKEN})',
        '  destination.timeoutMs: QA_DESTINATION_TIMEOUT_MS',
      ].join('\n'),
    );
    expect(stdout).to.contain('  everything else: examples/config.yaml, or the default\n');
  });

  it('the README section says what the code does: its names, its warning and its error', () => {
    const readme = readFileSync('README.md', 'utf8');
    const start = readme.indexOf('## Configuration from the environment');
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1)).replace(/\s+/g, ' ');
    const names = envKeysOf(configSchema());
    const pairs = [...section.matchAll(/`([A-Za-z0-9.[\]]+)` is `(QA_[A-Z0-9_]+)`/g)];
    expect(pairs.map(([, path]) => path)).to.include.members(['destination.url', 'flows[1].destination.url']);
    for (const [, path, name] of pairs) expect(joinPath(envKeyOf(name!, names)!.path), name).to.equal(path);
    const { warnings, problems } = applyEnvOverrides(
      undefined,
      { QA_DESTINATON_URL: 'x', QA_DESTINATION_TIMEOUT_MS: 'soon' },
      configSchema(),
    );
    expect(section).to.contain(`\`warning: ${warnings[0]}\``);
    expect(section).to.contain(`\`${joinPath(problems[0]!.path)}: ${problems[0]!.message}\``);
  });
});
