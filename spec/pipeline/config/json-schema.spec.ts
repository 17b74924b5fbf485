import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import * as t from 'io-ts';
import { parse } from 'yaml';
import { configSchema } from '../../../pipeline/config/config-schema.js';
import { jsonSchemaOf } from '../../../pipeline/config/json-schema.js';
import { integerIn, NonEmptyString, struct, withDefault } from '../../../operators/model/codecs.js';
import { runCli } from '../../helpers/cli.js';
import { secretKeys } from '../../../pipeline/config/secret-files.js';
import { ConfigError, decodeConfig } from '../../../pipeline/config/load.js';

const EXAMPLES = readdirSync('examples').filter((name) => name.endsWith('.yaml') && !name.endsWith('.test.yaml'));
const validator = () => new Ajv({ allErrors: true, strict: false }).compile(configSchema());
const example = (name: string): Record<string, unknown> =>
  parse(readFileSync(join('examples', name), 'utf8')) as Record<string, unknown>;

describe('the config JSON Schema (generated from the codecs)', () => {
  it('accepts every example config', () => {
    expect(EXAMPLES).to.include.members(['config.yaml', 'flows.yaml', 'aep-http.yaml', 'with-consent.yaml']);
    const validate = validator();
    for (const name of EXAMPLES) {
      const ok = validate(parse(readFileSync(join('examples', name), 'utf8')));
      expect(validate.errors ?? [], name).to.deep.equal([]);
      expect(ok, name).to.equal(true);
    }
  });

  it('rejects a config with an unknown key, a wrong type or a missing key', () => {
    const validate = validator();
    const good = parse(readFileSync('examples/config.yaml', 'utf8')) as Record<string, unknown>;
    expect(validate(good)).to.equal(true);
    const destination = good.destination as Record<string, unknown>;
    expect(validate({ ...good, destination: { ...destination, retries: 3 } })).to.equal(false);
    expect(validate({ ...good, destination: { ...destination, timeoutMs: 'soon' } })).to.equal(false);
    const { audiences: _, ...withoutAudiences } = good;
    expect(validate(withoutAudiences)).to.equal(false);
  });

  it('every example config names the schema for the editor on its first line', () => {
    for (const name of EXAMPLES)
      expect(readFileSync(join('examples', name), 'utf8').split('\n')[0], name).to.equal(
        '# yaml-language-server: $schema=../dist/config.schema.json',
      );
  });

  it('`schema` prints the same schema', async () => {
    const { code, stdout } = await runCli(['schema']);
    expect(code).to.equal(0);
    expect(JSON.parse(stdout)).to.deep.equal(configSchema());
  });

  it("converts io-ts' own types by their tags", () => {
    const Brand = t.brand(t.string, (s): s is t.Branded<string, { readonly B: unique symbol }> => s !== '', 'B');
    const codec = t.intersection([
      t.type({ kind: t.literal('k'), mode: t.keyof({ a: null, b: null }), list: t.array(t.number) }),
      t.partial({ map: t.record(t.string, t.boolean), either: t.union([t.string, t.null]), id: Brand }),
    ]);
    const { $schema: _, ...schema } = jsonSchemaOf(codec);
    expect(schema).to.deep.equal({
      type: 'object',
      properties: {
        kind: { const: 'k' },
        mode: { enum: ['a', 'b'] },
        list: { type: 'array', items: { type: 'number' } },
        map: { type: 'object', additionalProperties: { type: 'boolean' } },
        either: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        id: { type: 'string' },
      },
      required: ['kind', 'mode', 'list'],
      additionalProperties: true,
    });
    expect(jsonSchemaOf(t.exact(t.type({ a: t.string }))).additionalProperties).to.equal(false);
  });

  it('converts the custom combinators by the shapes they record: closed keys, defaults, ranges', () => {
    const codec = struct('s', { n: withDefault(integerIn(1, 5), 2), name: NonEmptyString }, { note: t.string });
    const { $schema: _, ...schema } = jsonSchemaOf(codec);
    expect(schema).to.deep.equal({
      type: 'object',
      properties: {
        n: { type: 'integer', minimum: 1, maximum: 5, description: 'an integer from 1 to 5', default: 2 },
        name: { type: 'string', minLength: 1, pattern: '\\S', description: 'a non-empty string' },
        note: { type: 'string' },
      },
      required: ['name'],
      additionalProperties: false,
    });
  });

  describe('secrets: exactly one of <key> or <key>File', () => {
    it('the secret keys are derived from the codec: every key decoded as SecretString, and header values', () => {
      const { keys, maps } = secretKeys();
      expect([...keys].sort()).to.deep.equal(
        ['apiToken', 'bearer', 'clientSecret', 'identityHashKey', 'signingKey', 'token'].sort(),
      );
      expect([...maps]).to.deep.equal(['headers']);
      // A key name is a secret everywhere or nowhere: secret files are read by name, at any depth.
      const names = new Map<string, Set<boolean>>();
      const visit = (node: unknown): void => {
        if (typeof node !== 'object' || node === null) return;
        for (const [key, child] of Object.entries(node)) {
          if (key === 'properties')
            for (const [name, property] of Object.entries(child as Record<string, Record<string, unknown>>))
              names.set(name, (names.get(name) ?? new Set()).add(property.writeOnly === true));
          visit(child);
        }
      };
      visit(configSchema());
      for (const key of keys) expect([...names.get(key)!], key).to.deep.equal([true]);
    });

    it('accepts a secret from its file key, and refuses both or neither, at every secret', () => {
      const validate = validator();
      const config = example('config.yaml');
      const { apiToken: _, ...destination } = config.destination as Record<string, unknown>;
      const cases: [string, Record<string, unknown>, boolean][] = [
        ['apiTokenFile', { ...config, destination: { ...destination, apiTokenFile: 'secrets/token' } }, true],
        ['neither', { ...config, destination }, false],
        ['both', { ...config, destination: { ...destination, apiToken: 't', apiTokenFile: 'f' } }, false],
        ['an empty file key', { ...config, destination: { ...destination, apiTokenFile: '' } }, false],
        ['identityHashKeyFile', { ...config, privacy: { identityHashKeyFile: 'k' } }, true],
        [
          'identityHashKey and its file',
          { ...config, privacy: { identityHashKey: 'k', identityHashKeyFile: 'k' } },
          false,
        ],
        ['listen tokenFile', { ...config, source: { websocket: { listen: { port: 1, tokenFile: 'f' } } } }, true],
        ['access tokenFile', { ...config, access: { tokens: [{ name: 'a', roles: ['view'], tokenFile: 'f' }] } }, true],
      ];
      const http = example('aep-http.yaml');
      const source = http.source as { http: Record<string, unknown> };
      const withAuth = (auth: unknown) => ({ ...http, source: { http: { ...source.http, auth } } });
      const oauth2 = { clientId: 'aep', clientSecretFile: 'f' };
      cases.push(
        ['bearerFile', withAuth({ bearerFile: 'f' }), true],
        ['bearer and bearerFile', withAuth({ bearer: 'b', bearerFile: 'f' }), false],
        ['bearerFile and oauth2', withAuth({ bearerFile: 'f', oauth2 }), false],
        ['clientSecretFile, signingKeyFile', withAuth({ oauth2: { ...oauth2, signingKeyFile: 'g' } }), true],
        ['no clientSecret', withAuth({ oauth2: { clientId: 'aep' } }), false],
        ['signingKey and its file', withAuth({ oauth2: { ...oauth2, signingKey: 'k', signingKeyFile: 'g' } }), false],
      );
      for (const [what, value, ok] of cases) {
        const valid = validate(value);
        expect(valid, `${what}: ${JSON.stringify(validate.errors)}`).to.equal(ok);
      }
    });
  });

  describe('branded strings: what the decoder refuses, the schema refuses too', () => {
    const SECRETS = { QUALTRICS_API_TOKEN: 'token', FEED_TOKEN: 'feed' };
    type Row = readonly [example: string, path: readonly (string | number)[], value: unknown];
    const rows: readonly Row[] = [
      ['config.yaml', ['name'], ''],
      ['config.yaml', ['name'], '   '],
      ['config.yaml', ['destination', 'username'], ' '],
      ['config.yaml', ['audiences', 0, 'id'], ''],
      ['config.yaml', ['identities', 0, 'source'], '\t'],
      ['config.yaml', ['attributes', 0, 'source'], 'person..name'],
      ['config.yaml', ['attributes', 0, 'target'], 'first name'],
      ['config.yaml', ['deadLetters', 'file'], ''],
      ['config.yaml', ['source', 'websocket', 'url'], 'https://cdp.example.com/streams'],
      ['config.yaml', ['destination', 'apiToken'], ''],
      ['flows.yaml', ['flows', 0, 'name'], 'Post Purchase'],
      ['flows.yaml', ['flows', 1, 'name'], '-churn'],
      ['flows.yaml', ['journal', 'stream'], ''],
      ['flows.yaml', ['redis', 'prefix'], 'acme:cx'],
      ['governance.yaml', ['flows', 0, 'governance', 'labels', 'loyalty'], ['!!']],
      ['governance.yaml', ['flows', 0, 'governance', 'marketingActions'], ['Export To']],
      ['governance.yaml', ['flows', 0, 'governance', 'labels', 'loyalty'], ['c2']],
    ];
    const withValue = (name: string, path: Row[1], value: unknown): Record<string, unknown> => {
      const config = structuredClone(example(name));
      let node = config as Record<string | number, unknown>;
      for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
      node[path.at(-1)!] = value;
      return config;
    };
    const decoderRefuses = (value: unknown): boolean => {
      try {
        decodeConfig(value, SECRETS, 'spec');
        return false;
      } catch (error) {
        if (error instanceof ConfigError) return true;
        throw error;
      }
    };

    it('the examples the rows start from pass both', () => {
      const validate = validator();
      for (const name of new Set(rows.map(([name]) => name))) {
        expect(decoderRefuses(example(name)), name).to.equal(false);
        expect(validate(example(name)), name).to.equal(true);
      }
    });

    for (const [name, path, value] of rows) {
      const title = `${path.join('.')}: ${JSON.stringify(value)} (${name})`;
      it(title, () => {
        const config = withValue(name, path, value);
        expect(decoderRefuses(config), 'the decoder').to.equal(true);
        expect(validator()(config), 'the schema').to.equal(false);
      });
    }

    it('records the pattern of a branded helper, and a non-empty string has minLength 1', () => {
      type Node = { properties: Record<string, Node>; items: Node; anyOf: Node[] };
      const [manyFlows, oneFlow] = (configSchema() as unknown as Node).anyOf;
      expect(oneFlow!.properties.name).to.include({ type: 'string', minLength: 1, pattern: '\\S' });
      expect(manyFlows!.properties.flows!.items.properties.name).to.include({
        type: 'string',
        pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
      });
    });
  });

  describe('unknown keys are refused at every level, by the decoder and the schema alike', () => {
    const SECRETS = { QUALTRICS_API_TOKEN: 'token', AEP_CLIENT_SECRET: 'secret', CONSOLE_TOKEN: 'c'.repeat(24) };
    /** flows.yaml with the HTTP intake of aep-http.yaml, governance on its first flow, and access tokens. */
    const base = (): Record<string, unknown> => {
      const config = structuredClone(example('flows.yaml'));
      config.source = example('aep-http.yaml').source;
      (config.flows as Record<string, unknown>[])[0]!.governance = { marketingActions: ['exportToThirdParty'] };
      config.access = { tokens: [{ name: 'ops', roles: ['view'], token: '${CONSOLE_TOKEN}' }] };
      return config;
    };
    const problemsOf = (value: unknown): readonly string[] => {
      try {
        decodeConfig(value, SECRETS, 'spec');
        return [];
      } catch (error) {
        if (error instanceof ConfigError) return error.problems;
        throw error;
      }
    };

    it('the config these start from passes both', () => {
      expect(problemsOf(base())).to.deep.equal([]);
      const validate = validator();
      expect(validate(base()), JSON.stringify(validate.errors)).to.equal(true);
    });

    const levels: readonly (readonly (string | number)[])[] = [
      [],
      ['flows', 0],
      ['flows', 0, 'destination', 'rateLimit'],
      ['source', 'http', 'auth', 'oauth2'],
      ['flows', 0, 'governance'],
      ['access', 'tokens', 0],
    ];
    for (const path of levels) {
      const at = path.reduce<string>(
        (text, key) => (typeof key === 'number' ? `${text}[${key}]` : text === '' ? key : `${text}.${key}`),
        '',
      );
      it(`at ${at || 'the top'}`, () => {
        const config = base();
        let node = config as Record<string | number, unknown>;
        for (const key of path) node = node[key] as Record<string | number, unknown>;
        node.bogusKey = 1;
        const problems = problemsOf(config);
        expect(
          problems.some((p) => p.startsWith(`${at ? `${at}.` : ''}bogusKey: unknown key`)),
          problems.join('\n'),
        ).to.equal(true);
        const validate = validator();
        expect(validate(config)).to.equal(false);
        const pointer = path.map((key) => `/${key}`).join('');
        expect(
          validate.errors!.some(
            (e) =>
              e.keyword === 'additionalProperties' &&
              e.instancePath === pointer &&
              e.params.additionalProperty === 'bogusKey',
          ),
          JSON.stringify(validate.errors),
        ).to.equal(true);
      });
    }
  });
});
