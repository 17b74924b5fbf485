import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { finished, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

/** The names `.env.example` lists, each given a stand-in value. */
const secretsOf = (envExample: string): Record<string, string> =>
  Object.fromEntries(
    envExample
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), 'stand-in']),
  );

describe('init', function () {
  this.timeout(30_000);

  it('--yes writes a config that validates, a test file that passes, a .env.example naming its secrets', async () => {
    const dir = join(tempDir('qa-init-'), 'new-flow');
    const init = await runCli(['init', '--yes', dir]);
    expect(init.stderr).to.equal('');
    expect(init.code).to.equal(0);
    const config = readFileSync(join(dir, 'config.yaml'), 'utf8');
    expect(config.split('\n')[0]).to.equal('# yaml-language-server: $schema=./config.schema.json');
    const secrets = secretsOf(readFileSync(join(dir, '.env.example'), 'utf8'));
    expect(Object.keys(secrets)).to.have.members(['QUALTRICS_API_TOKEN', 'FEED_TOKEN']);
    // No secret is written to the file: each is a reference to the environment.
    for (const name of Object.keys(secrets)) expect(config).to.contain(`\${${name}}`);

    const validate = await runCli(['validate', '--config', join(dir, 'config.yaml')], secrets);
    expect(validate.stderr).to.equal('');
    expect(validate.code).to.equal(0);
    expect(validate.stdout).to.contain('OK (My first flow: 1 audience(s), 1 identity mapping(s), 1 attribute(s))');
    expect(validate.stdout).not.to.contain('warning');

    const test = await runCli(['test', join(dir, 'config.test.yaml')]);
    expect(test.stdout).to.contain('2 passed, 0 failed');
    expect(test.code).to.equal(0);
    expect(JSON.parse(readFileSync(join(dir, 'config.schema.json'), 'utf8'))).to.have.property('anyOf');
  });

  it('never overwrites what is there, unless --force', async () => {
    const dir = tempDir('qa-init-');
    expect((await runCli(['init', '--yes', dir])).code).to.equal(0);
    const again = await runCli(['init', '--yes', dir]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.contain('already exist (--force overwrites them)');
    expect((await runCli(['init', '--yes', '--force', dir])).code).to.equal(0);
  });

  it('on a terminal, asks for the URL, the username, the audiences and the identities, and writes the answers', async () => {
    const dir = join(tempDir('qa-init-'), 'asked');
    // A real terminal (a pseudo-terminal from util-linux `script`), answering each question as it appears.
    const child = spawn(
      'script',
      ['-qec', `${process.execPath} --import tsx pipeline/cli.ts init ${dir}`, '/dev/null'],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const answers: Array<[string, string]> = [
      ['JSON Event URL', 'https://fra1.qualtrics.com/inbound-event/v1/events/json/triggers?urlId=SV_mine'],
      ['Qualtrics username', 'me@example.com'],
      ['AEP audience ids', '9c2d4e6f-1a3b-4c5d-8e7f-0a1b2c3d4e5f'],
      ['identity mapping', 'ECID:external_id, Email:email'],
    ];
    let seen = '';
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      const next = answers[0];
      if (next && seen.includes(next[0])) {
        answers.shift();
        seen = '';
        child.stdin.write(`${next[1]}\r`);
      }
    });
    const { code } = await finished(child);
    expect(code).to.equal(0);
    const config = readFileSync(join(dir, 'config.yaml'), 'utf8');
    expect(config).to.contain('url: "https://fra1.qualtrics.com/inbound-event/v1/events/json/triggers?urlId=SV_mine"');
    expect(config).to.contain('username: "me@example.com"');
    expect(config).to.contain('- id: "9c2d4e6f-1a3b-4c5d-8e7f-0a1b2c3d4e5f"');
    expect(config).to.contain('  - { source: ECID, target: external_id }\n  - { source: Email, target: email }');
    const test = await runCli(['test', join(dir, 'config.test.yaml')]);
    expect(test.stdout).to.contain('2 passed, 0 failed');
  });
});
