import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../../pipeline/config/load.js';
import { problemsOf } from '../../helpers/config-problems.js';
import { tempDir } from '../../helpers/temp.js';

const config = (more: string): string => `
name: Guarded
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://x.qualtrics.com/e/1", apiToken: t, auth: header }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
${more}
`;

describe('config: access (console tokens and roles)', () => {
  it('decodes tokens by value or file, with roles; the token is a secret', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bot.token'), 'bot-token-0123456789\n');
    const decoded = parseConfig(
      config(`access:
  tokens:
    - { name: ada, token: "\${ADA}", roles: [view, manage, activate] }
    - { name: bot, tokenFile: bot.token, roles: [view] }`),
      { ADA: 'ada-token-0123456789' },
      'config',
      { baseDir: dir },
    );
    expect(decoded.access?.tokens.map((token) => token.name)).to.deep.equal(['ada', 'bot']);
    expect(decoded.access?.tokens[0]?.token.reveal()).to.equal('ada-token-0123456789');
    expect(decoded.access?.tokens[1]?.token.reveal()).to.equal('bot-token-0123456789');
    expect(JSON.stringify(decoded.access)).to.not.include('ada-token-0123456789');
  });

  it('refuses a non-loopback observability host without access, naming the path', () => {
    expect(problemsOf(config('observability: { host: 0.0.0.0 }'))).to.deep.equal([
      'observability.host: "0.0.0.0" is not a loopback address: set access (tokens with roles) to serve the console and /metrics beyond this machine',
    ]);
    expect(problemsOf(config('observability: { host: "::1" }'))).to.deep.equal([]);
    expect(
      problemsOf(
        config(
          'observability: { host: 0.0.0.0 }\naccess: { tokens: [{ name: a, token: xxxxxxxxxxxxxxxx, roles: [view] }] }',
        ),
      ),
    ).to.deep.equal([]);
  });

  it('names what is wrong with a token: an unknown role, both token and tokenFile, a name listed twice', () => {
    const role = problemsOf(config('access: { tokens: [{ name: a, token: xxxxxxxxxxxxxxxx, roles: [admin] }] }')).join(
      '\n',
    );
    expect(role).to.include('access.tokens[0].roles[0]');
    expect(role).to.include('view | manage | activate');
    expect(
      problemsOf(config('access: { tokens: [{ name: b, token: xxxxxxxxxxxxxxxx, tokenFile: f, roles: [view] }] }')),
    ).to.deep.equal(['access.tokens[0].tokenFile: set token or tokenFile, not both']);
    expect(
      problemsOf(
        config(
          'access: { tokens: [{ name: b, token: xxxxxxxxxxxxxxxx, roles: [view] }, { name: b, token: yyyyyyyyyyyyyyyy, roles: [view] }] }',
        ),
      ),
    ).to.deep.equal(['access.tokens[1].name: "b" is listed twice']);
  });

  it('refuses a token shorter than 16 characters, naming the path and not the token', () => {
    const problems = problemsOf(config('access: { tokens: [{ name: a, token: "${SHORT}", roles: [view] }] }'), {
      SHORT: 'tiny-token',
    });
    expect(problems).to.deep.equal([
      'access.tokens[0].token: the token is 10 characters long: use at least 16 (for example `openssl rand -base64 24`)',
    ]);
  });
});
