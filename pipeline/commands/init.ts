import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { stringify } from 'yaml';
import { loadChain } from '../chain.js';
import { configSchema } from '../config/config-schema.js';
import { parseConfig } from '../config/load.js';
import { mapOnce } from '../map-message.js';
import { offlineContext } from '../wire.js';

/** What `init` asks for; `--yes` (or no terminal) takes these defaults. */
export interface InitAnswers {
  readonly url: string;
  readonly username: string;
  readonly audiences: readonly string[];
  /** `Email:email`: an AEP namespace and the Qualtrics field it fills (email or external_id). */
  readonly identities: readonly { source: string; target: 'email' | 'external_id' }[];
}

export const DEFAULT_ANSWERS: InitAnswers = {
  url: 'https://iad1.qualtrics.com/inbound-event/v1/events/json/triggers?urlId=SV_replaceMe',
  username: 'you@example.com',
  audiences: ['5b6f8f7e-3d1c-4a57-9a8e-2f0c6d1e4b21'],
  identities: [{ source: 'Email', target: 'email' }],
};

/** The files `init` writes, by name. */
export const FILES = {
  config: 'config.yaml',
  test: 'config.test.yaml',
  env: '.env.example',
  schema: 'config.schema.json',
} as const;

const identitiesFrom = (text: string): InitAnswers['identities'] =>
  text.split(',').map((pair) => {
    const [source, target = 'email'] = pair.split(':').map((part) => part.trim());
    if (!source || (target !== 'email' && target !== 'external_id'))
      throw new Error(
        `identity mapping ${JSON.stringify(pair.trim())}: expected Namespace:email or Namespace:external_id`,
      );
    return { source, target };
  });

/** Asks on the terminal, each question with its default in brackets (Enter takes it). */
const ask = async (): Promise<InitAnswers> => {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const question = async (text: string, fallback: string): Promise<string> =>
      (await rl.question(`${text} [${fallback}]: `)).trim() || fallback;
    const url = await question('JSON Event URL of your workflow', DEFAULT_ANSWERS.url);
    const username = await question('Qualtrics username', DEFAULT_ANSWERS.username);
    const audiences = (await question('AEP audience ids (UUIDs, comma separated)', DEFAULT_ANSWERS.audiences.join(',')))
      .split(',')
      .map((id) => id.trim())
      .filter((id) => id !== '');
    const identities = identitiesFrom(
      await question(
        'identity mapping (Namespace:email or Namespace:external_id, comma separated)',
        DEFAULT_ANSWERS.identities.map(({ source, target }) => `${source}:${target}`).join(','),
      ),
    );
    return { url, username, audiences, identities };
  } finally {
    rl.close();
  }
};

const configText = (a: InitAnswers): string => `# yaml-language-server: $schema=./${FILES.schema}
# A qualtrics-automations config for one flow. Check it with:
#   qualtrics-automations validate --config ${FILES.config}
# Secrets are never written here: they come from the environment (see ${FILES.env}).
name: My first flow

source:
  websocket:
    # Producers connect here and send one profile update (JSON) a message, with this bearer token.
    listen: { host: 127.0.0.1, port: 8080, token: "\${FEED_TOKEN}" }

destination:
  # The JSON Event URL of your workflow (Workflows > your workflow > JSON Event > copy URL).
  url: ${JSON.stringify(a.url)}
  username: ${JSON.stringify(a.username)} # your Qualtrics username (auth: basic)
  apiToken: \${QUALTRICS_API_TOKEN} # Account Settings > Qualtrics IDs > API > Token
  auth: basic # basic (username:apiToken) or header (X-API-TOKEN)

audiences: # only these AEP audiences (segment ids) are sent
${a.audiences.map((id) => `  - id: ${JSON.stringify(id)}`).join('\n')}

identities: # at least one; the first with a usable id orders and dedupes
${a.identities.map(({ source, target }) => `  - { source: ${source}, target: ${target} }`).join('\n')}

attributes: # profile fields to send: dotted paths in the profile, names in the payload
  - { source: person.name.firstName, target: firstName }

# Without redis, dedupe marks and the run history live on disk here; dead letters go to a file.
state: { dir: .qualtrics-automations }
deadLetters: { file: dead-letters.jsonl }
`;

/** A sample update for the first audience and identity: what the test file feeds through the mapping. */
const sampleInput = (a: InitAnswers): Record<string, unknown> => ({
  person: { name: { firstName: 'Ann' } },
  identityMap: {
    [a.identities[0]!.source]: [{ id: a.identities[0]!.target === 'email' ? 'ann@example.com' : '2750932749' }],
  },
  segmentMembership: {
    ups: { [a.audiences[0] ?? 'audience']: { status: 'realized', lastQualificationTime: '2026-11-29T09:15:02Z' } },
  },
});

/** The test file, its expected payload taken from the mapping itself, so it passes until the config changes. */
const testText = async (a: InitAnswers, config: string, dir: string): Promise<string> => {
  const parsed = parseConfig(config, {}, FILES.config, { placeholder: (name) => `unset-${name}` });
  const flow = parsed.flows[0]!;
  const input = sampleInput(a);
  const payload = await mapOnce(await loadChain(flow, dir), JSON.stringify(input), offlineContext(parsed, flow));
  const cases = [
    { name: 'a person who entered the audience is sent', input, expect: { payload } },
    {
      name: 'a person in no mapped audience is not sent',
      input: { ...input, segmentMembership: { ups: { 'another-audience': { status: 'realized' } } } },
      expect: { excluded: 'not-qualified' },
    },
  ];
  return (
    `# Declarative tests for ${FILES.config}: qualtrics-automations test ${FILES.test}\n` +
    '# Each case feeds one update through the mapping (no network) and checks what would be sent.\n' +
    stringify({ config: `./${FILES.config}`, cases }, { aliasDuplicateObjects: false })
  );
};

const envText = `# The secrets ${FILES.config} reads from the environment. Copy to .env, fill in, keep out of version control.
# Qualtrics: Account Settings > Qualtrics IDs > API > Token
QUALTRICS_API_TOKEN=
# The bearer token producers send to the listening WebSocket
FEED_TOKEN=
`;

/**
 * `init [dir]`: writes a commented config for one flow, a matching test file, a \`.env.example\` naming
 * the secrets and the config's JSON Schema (for the editor). Asks on a terminal unless told not to;
 * never overwrites a file unless forced.
 */
export const initCommand = async (dir: string, options: { ask: boolean; force: boolean }): Promise<string> => {
  const paths = Object.values(FILES).map((name) => join(dir, name));
  const existing = paths.filter((path) => existsSync(path));
  if (existing.length > 0 && !options.force)
    throw new Error(`init: ${existing.join(', ')} already exist (--force overwrites them)`);
  const answers = options.ask ? await ask() : DEFAULT_ANSWERS;
  await mkdir(dir, { recursive: true });
  const config = configText(answers);
  const files: Record<string, string> = {
    [FILES.config]: config,
    [FILES.test]: await testText(answers, config, dir),
    [FILES.env]: envText,
    [FILES.schema]: `${JSON.stringify(configSchema(), null, 2)}\n`,
  };
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return (
    `wrote ${Object.keys(files)
      .map((name) => join(dir, name))
      .join(', ')}\nnext: set the variables of ${FILES.env}, then\n` +
    `  qualtrics-automations validate --config ${join(dir, FILES.config)}\n` +
    `  qualtrics-automations test ${join(dir, FILES.test)}\n`
  );
};
