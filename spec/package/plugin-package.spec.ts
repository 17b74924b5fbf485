import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { packedTarball } from '../helpers/packed.js';

const run = promisify(execFile);
const REPO = resolve('.');

/** The README's files: every fenced block with a `title="path"`, by path. */
const filesIn = (markdown: string): Map<string, string> =>
  new Map([...markdown.matchAll(/```\w+ title="([^"]+)"\n([\s\S]*?)```/g)].map((m) => [m[1]!, m[2]!]));

/** The README's first YAML block (the `operators:` section of a config). */
const operatorsYamlIn = (markdown: string): string => /```yaml\n(operators:[\s\S]*?)```/.exec(markdown)![1]!;

const CONFIG = `name: Plug-in package
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://x.qualtrics.com/e", username: u, apiToken: t }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
`;

describe('a plug-in package outside this repository, as operators/README.md writes it', function () {
  this.timeout(300_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qa-plugin-package-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('installs this package from `npm pack`, builds, passes its own tests and plugs in', async () => {
    // The package as it would be published (prepare builds it), packed once for every spec that needs it.
    const tarball = await packedTarball();

    const readme = await readFile(join(REPO, 'operators/README.md'), 'utf8');
    const files = filesIn(readme);
    expect([...files.keys()]).to.include.members([
      'package.json',
      'tsconfig.json',
      'src/require-consent.ts',
      'src/crm-lookup.ts',
      'test/operators.test.ts',
    ]);
    const project = join(dir, 'my-operators');
    for (const [path, text] of files) {
      // The one change: this package from the tarball instead of the registry.
      const content =
        path === 'package.json'
          ? text.replace('"qualtrics-automations": "^0.1.0"', `"qualtrics-automations": "file:${tarball}"`)
          : text;
      await mkdir(dirname(join(project, path)), { recursive: true });
      await writeFile(join(project, path), content);
    }
    expect(await readFile(join(project, 'package.json'), 'utf8')).to.contain(`file:${tarball}`);

    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent'], { cwd: project });
    // Its own tests: tsc against the installed package's types, then node --test.
    const tests = await run('npm', ['test', '--silent'], { cwd: project });
    expect(tests.stdout).to.match(/# pass 2\b/);
    expect(tests.stdout).to.match(/# fail 0\b/);

    // The README's config section, in a config next to the package: the installed CLI loads both.
    await writeFile(join(project, 'config.yaml'), `${CONFIG}${operatorsYamlIn(readme)}`);
    const validate = await run(
      join(project, 'node_modules/.bin/qualtrics-automations'),
      ['validate', '-c', 'config.yaml'],
      {
        cwd: project,
      },
    );
    expect(validate.stdout).to.contain('config.yaml: OK');
    expect(validate.stdout).to.contain(
      'requireConsent     (plug-in my-operators/require-consent) exclude profiles without consent',
    );
    expect(validate.stdout).to.contain(
      "crmLookup          (plug-in my-operators/crm-lookup) add the customer's CRM tier",
    );
  });
});
