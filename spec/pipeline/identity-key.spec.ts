import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { identityKeyFile } from '../../adapters/embedded/identity-key-file.js';
import { parseConfig } from '../../pipeline/config/load.js';
import { tempDir } from '../helpers/temp.js';

/** Runs `identityKeyFile(dir)` in a process of its own; answers what it printed (the key, or the error). */
const keyFromProcess = (dir: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('./adapters/embedded/identity-key-file.ts').then(({ identityKeyFile }) => process.stdout.write(identityKeyFile(${JSON.stringify(dir)})), (e) => process.stdout.write('error: ' + e.message))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });

describe('the identity hashing key', function () {
  this.timeout(60_000);

  it('without Redis: processes starting at once all read the same whole key', async () => {
    const dir = join(tempDir('qa-key-'), 'state');
    const keys = await Promise.all(Array.from({ length: 6 }, () => keyFromProcess(dir)));
    expect(keys[0]).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set(keys).size).to.equal(1);
    expect(identityKeyFile(dir)).to.equal(keys[0]);
  });

  it('without Redis: a damaged key file is an error naming it, not a key of its own', () => {
    const dir = tempDir('qa-key-');
    writeFileSync(join(dir, 'identity-hash-key'), '');
    expect(() => identityKeyFile(dir)).to.throw(
      `the identity hashing key in ${join(dir, 'identity-hash-key')} is not 32 bytes`,
    );
  });

  it('a configured key must have at least 32 bytes', () => {
    const config = (key: string) => `
name: Keyed
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://x.qualtrics.com/e", apiToken: t, auth: header }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
privacy: { identityHashKey: "${key}" }
`;
    expect(() => parseConfig(config('too-short'), {})).to.throw(/privacy\.identityHashKey: expected at least 32 bytes/);
    expect(() => parseConfig(config('k'.repeat(32)), {})).not.to.throw();
  });
});
