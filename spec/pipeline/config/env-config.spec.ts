import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Config } from '../../../pipeline/config/codec.js';
import { configSchema } from '../../../pipeline/config/config-schema.js';
import { envKeysOf, envNameOf } from '../../../pipeline/config/env-config.js';
import { ConfigError, loadConfig } from '../../../pipeline/config/load.js';
import { Secret } from '../../../pipeline/config/secret.js';
import { runCli } from '../../helpers/cli.js';

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
 * A parsed config as `QA_<PATH>` variables, one per key the naming rule reaches: sections are followed
 * down to their keys, lists and maps are given whole as JSON.
 */
const asVariables = (value: Record<string, unknown>, path: string[] = []): Record<string, string> => {
  const names = envKeysOf(configSchema());
  const variables: Record<string, string> = {};
  for (const [key, item] of Object.entries(value)) {
    const at = [...path, key];
    const name = envNameOf(at);
    expect(names.has(name), name).to.equal(true);
    const section = typeof item === 'object' && item !== null && !Array.isArray(item);
    const reachable = section && Object.keys(item).every((child) => names.has(envNameOf([...at, child])));
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

describe('configuration from the environment', () => {
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

  it('a variable naming no key, or a value of the wrong kind, is an error naming the variable', async () => {
    const error = await loadConfig('examples/config.yaml', {
      ...SECRETS,
      QA_DESTINATON_URL: 'https://x.qualtrics.com/e',
      QA_DESTINATION_TIMEOUT_MS: 'soon',
    }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(ConfigError);
    expect((error as ConfigError).problems).to.include.members([
      'environment variable QA_DESTINATON_URL names no config key (did you mean QA_DESTINATION_URL?)',
      'destination.timeoutMs: from QA_DESTINATION_TIMEOUT_MS: expected a number, got "soon"',
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
});
