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

const EXAMPLES = readdirSync('examples').filter((name) => name.endsWith('.yaml') && !name.endsWith('.test.yaml'));
const validator = () => new Ajv({ allErrors: true, strict: false }).compile(configSchema());

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
        name: { type: 'string', description: 'a non-empty string' },
        note: { type: 'string' },
      },
      required: ['name'],
      additionalProperties: false,
    });
  });
});
