import { expect } from 'chai';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../pipeline/config/load.js';
import { configFileWarnings } from '../../../pipeline/config/secret-files.js';
import { QualtricsStandIn } from '../../../pipeline/demo/qualtrics-stand-in.js';
import { CliProcesses, liveOutput } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/temp.js';
import { eventually } from '../../helpers/ws-server.js';

const TOKEN = 'token-from-a-file-SECRET';

/** A config file in a fresh folder (mode 600 unless said), and that folder. */
const configIn = (text: string, mode = 0o600): { file: string; dir: string } => {
  const dir = tempDir('qa-secret-files-');
  const file = join(dir, 'config.yaml');
  writeFileSync(file, text);
  chmodSync(file, mode);
  return { file, dir };
};

const config = (destination: string, more = ''): string => `
name: Secrets
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { ${destination} }
audiences: [{ id: 5b6f8f7e-3d1c-4a57-9a8e-2f0c6d1e4b21 }]
identities: [{ source: Email, target: email }]
state: { dir: state }
${more}`;

const problemsOf = async (file: string): Promise<string[]> => {
  try {
    await loadConfig(file, {});
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
};

describe('secrets from files (apiTokenFile, tokenFile, bearerFile, clientSecretFile, ...)', function () {
  this.timeout(30_000);
  const processes = new CliProcesses();
  afterEach(() => processes.killAll());

  it('reads a token from a file relative to the config (one trailing newline dropped) and sends it', async () => {
    const standIn = await QualtricsStandIn.start({ apiToken: TOKEN });
    try {
      const { file, dir } = configIn(
        config(`url: "${standIn.url}", apiTokenFile: secrets/token, auth: header, allowAnyHost: true`),
      );
      mkdirSync(join(dir, 'secrets'));
      writeFileSync(join(dir, 'secrets', 'token'), `${TOKEN}\n`);
      expect((await loadConfig(file, {})).flows[0]!.destination.apiToken.reveal()).to.equal(TOKEN);
      // The real command, sending: the destination accepts only the token from the file.
      const result = await processes.run(['send-test', '--config', file]);
      expect(result.stdout).to.include('OK: the destination accepted the event');
      expect(result.stdout + result.stderr).not.to.include(TOKEN);
      expect(result.code).to.equal(0);
    } finally {
      await standIn.close();
    }
  });

  it('names the key of a file that cannot be read, is empty, or is set beside the secret itself', async () => {
    const { file, dir } = configIn(config('url: "https://x.qualtrics.com/e", apiTokenFile: missing.txt, auth: header'));
    expect(await problemsOf(file)).to.deep.equal([
      `destination.apiTokenFile: cannot read missing.txt: ENOENT: no such file or directory, open '${join(dir, 'missing.txt')}'`,
      'destination.apiToken: missing (expected a non-empty string (a secret))',
    ]);
    const both = configIn(config('url: "https://x.qualtrics.com/e", apiToken: t, apiTokenFile: t.txt, auth: header'));
    expect(await problemsOf(both.file)).to.deep.equal([
      'destination.apiTokenFile: set apiToken or apiTokenFile, not both',
    ]);
    const empty = configIn(config('url: "https://x.qualtrics.com/e", apiTokenFile: empty.txt, auth: header'));
    writeFileSync(join(empty.dir, 'empty.txt'), '\n');
    expect((await problemsOf(empty.file))[0]).to.equal('destination.apiTokenFile: empty.txt is empty');
  });

  it('validate and run warn about a literal secret in a config file group or others can read', async () => {
    const literal = config('url: "https://x.qualtrics.com/e", apiToken: literal-SECRET, auth: header');
    const open = configIn(literal, 0o644);
    const warning =
      `warning: ${open.file} holds a secret in clear (destination.apiToken) and is readable by group or others ` +
      '(mode 644): chmod 600 it, or use ${VAR} or apiTokenFile';
    const validated = await processes.run(['validate', '--config', open.file]);
    expect(validated.code).to.equal(0);
    expect(validated.stdout).to.include(warning);
    // Private file, or the secret from the environment: nothing to say.
    for (const quiet of [configIn(literal, 0o600), configIn(literal.replace('literal-SECRET', '"${TOKEN}"'), 0o644)])
      expect((await processes.run(['validate', '--config', quiet.file], { TOKEN: 't' })).stdout).not.to.include(
        'warning',
      );
    const child = processes.start(['run', '--config', open.file], { LOG_LEVEL: 'warn' });
    const output = liveOutput(child);
    await eventually(() => output.stderr().includes('holds a secret in clear (destination.apiToken)'));
    expect(output.stderr()).not.to.include('literal-SECRET');
  });

  it('the literal-secret warning covers header values and a password in a URL (redis.url), not ${VAR}s', async () => {
    const headers = (value: string) =>
      config('url: "https://x.qualtrics.com/e", apiToken: "${T}", auth: header').replace(
        'url: "ws://127.0.0.1:1"',
        `url: "ws://127.0.0.1:1", headers: { Authorization: "${value}" }`,
      );
    const literal = configIn(headers('Bearer abc'), 0o644);
    expect(await configFileWarnings(literal.file)).to.deep.equal([
      `${literal.file} holds a secret in clear (source.websocket.headers.Authorization) and is readable by group ` +
        'or others (mode 644): chmod 600 it, or use ${VAR}',
    ]);
    expect(await configFileWarnings(configIn(headers('Bearer ${FEED_TOKEN}'), 0o644).file)).to.deep.equal([]);
    const redis = (url: string) =>
      configIn(
        config('url: "https://x.qualtrics.com/e", apiToken: "${T}", auth: header', `redis: { url: "${url}" }`),
        0o640,
      );
    const withPassword = redis('redis://:hunter2@redis:6379');
    expect(await configFileWarnings(withPassword.file)).to.deep.equal([
      `${withPassword.file} holds a secret in clear (the password in redis.url) and is readable by group or others ` +
        '(mode 640): chmod 600 it, or use ${VAR}',
    ]);
    for (const quiet of ['redis://redis:6379', 'redis://:${REDIS_PASSWORD}@redis:6379', '${REDIS_URL}'])
      expect(await configFileWarnings(redis(quiet).file), quiet).to.deep.equal([]);
  });
});
