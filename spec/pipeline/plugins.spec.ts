import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { testOperator } from '../../operators/testing.js';
import { ConfigError } from '../../pipeline/config/errors.js';
import { parseConfig } from '../../pipeline/config/load.js';
import { loadPlugins, type PluginConfig } from '../../pipeline/plugins.js';
import { runOperators } from '../helpers/run-operators.js';
import { CliProcesses, finished } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { updateFor } from '../helpers/harness.js';

const FIXTURES = resolve('spec/fixtures/plugins');
const EXAMPLES = resolve('examples');

const config = (operators: string) =>
  parseConfig(`
name: Plug-ins
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://x.qualtrics.com/e", username: u, apiToken: t }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
attributes: [{ source: person.name.firstName, target: firstName }]
operators: ${operators}
`);

const problemsOf = async (plugins: readonly PluginConfig[], baseDir: string): Promise<readonly string[]> => {
  try {
    await loadPlugins(plugins, baseDir);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
};

describe('plug-in operators', function () {
  this.timeout(30_000);

  it('loads a module from a path relative to the config, decodes its options and places it after the named operator', async () => {
    const c = config('[{ use: ./tag-payload.mjs, after: selectIdentity, with: { field: source, value: cdp-eu } }]');
    const plugins = await loadPlugins(c.flows[0]!.operators, FIXTURES);
    expect(plugins.map((p) => [p.definition.name, p.after])).to.deep.equal([['tagPayload', 'selectIdentity']]);
    const { bodies } = await runOperators(c, [JSON.stringify({ ...updateFor('ann@example.com') })], undefined, plugins);
    // Placed before projectAttributes: the tag comes first in the payload, before the mapped attribute.
    expect(bodies).to.have.length(1);
    expect(JSON.parse(bodies[0]!)).to.include({ source: 'cdp-eu', firstName: 'v1' });
    expect(bodies[0]!.indexOf('"source"')).to.be.below(bodies[0]!.indexOf('"firstName"'));
  });

  it('loads the example from examples/ and excludes profiles without consent', async () => {
    const c = config('[{ use: ./plugins/require-consent.mjs, after: selectIdentity }]');
    const plugins = await loadPlugins(c.flows[0]!.operators, EXAMPLES);
    const consenting = { ...updateFor('ann@example.com'), consents: { marketing: { email: { val: 'y' } } } };
    const { counts } = await runOperators(
      c,
      [JSON.stringify(consenting), JSON.stringify(updateFor('ben@example.com'))],
      undefined,
      plugins,
    );
    expect(counts).to.deep.include({ delivered: 1, excluded: { 'no-consent': 1 } });
  });

  it('runs plug-ins through a guard: one that drops, one that settles twice and one that throws each cost one update', async () => {
    const c = config(`
  - { use: ./misbehaving.mjs, after: selectIdentity, with: { mode: drop, email: dropped@example.com } }
  - { use: ./misbehaving.mjs, after: selectIdentity, with: { mode: twice, email: twice@example.com } }
  - { use: ./misbehaving.mjs, after: projectAttributes, with: { mode: throw, email: thrown@example.com } }`);
    const plugins = await loadPlugins(c.flows[0]!.operators, FIXTURES);
    const people = ['ann', 'dropped', 'ben', 'twice', 'cy', 'thrown', 'dee'].map((name) => `${name}@example.com`);
    const { counts, settlements, bodies } = await runOperators(
      c,
      people.map((email) => JSON.stringify(updateFor(email))),
      undefined,
      plugins,
    );
    const outcomeOf = Object.fromEntries(
      settlements.map(({ identity, outcome }) => [
        identity?.id,
        `${outcome.kind}${'reason' in outcome ? `:${outcome.reason}` : ''}${'detail' in outcome ? ` ${outcome.detail}` : ''}`,
      ]),
    );
    expect(outcomeOf).to.deep.equal({
      'ann@example.com': 'delivered',
      'ben@example.com': 'delivered',
      'cy@example.com': 'delivered',
      'dee@example.com': 'delivered',
      'dropped@example.com':
        'failed:operator-dropped misbehaving: its stream completed without passing this update on or settling it',
      'twice@example.com':
        'failed:operator-error misbehaving: settled this update twice (ticket already settled, cannot be settled)',
      'thrown@example.com': 'failed:operator-error misbehaving: threw: cannot handle thrown@example.com',
    });
    expect(bodies).to.have.length(4);
    // The books add up: every update has exactly one outcome, nothing is left in flight.
    expect(counts).to.deep.equal({
      received: 7,
      delivered: 4,
      duplicate: 0,
      excluded: {},
      failed: { 'operator-dropped': 1, 'operator-error': 2 },
      settled: 7,
      released: 0,
      inFlight: 0,
    });
  });

  it('lets a plug-in author test an operator in a few lines', async () => {
    const { default: requireConsent } = (await import(resolve(EXAMPLES, 'plugins/require-consent.mjs'))) as {
      default: Parameters<typeof testOperator>[0];
    };
    const { passed, settled } = await testOperator(requireConsent, { allowed: ['y', 'yes'] }, [
      { profile: { consents: { marketing: { email: { val: 'yes' } } } } },
      { profile: { consents: { marketing: { email: { val: 'n' } } } } },
    ]);
    expect(passed).to.have.length(1);
    expect(settled.map((s) => s.outcome)).to.deep.equal([
      { kind: 'excluded', reason: 'no-consent', detail: 'consents.marketing.email.val is "n", not one of y, yes' },
    ]);
  });

  it('shows a plug-in author, in testOperator, what the guard would do and log in the pipeline', async () => {
    const { operator } = (await import(resolve(FIXTURES, 'misbehaving.mjs'))) as {
      operator: Parameters<typeof testOperator>[0];
    };
    const ann = { namespace: 'Email', target: 'email', id: 'ann@example.com' } as const;
    const { passed, settled, faults } = await testOperator(operator, { mode: 'twice', email: ann.id }, [
      { profile: {}, identity: ann },
      { profile: {}, identity: { ...ann, id: 'ben@example.com' } },
    ]);
    expect(passed.map((e) => e.identity?.id)).to.deep.equal(['ben@example.com']);
    expect(settled.map((s) => s.outcome)).to.deep.equal([
      {
        kind: 'failed',
        reason: 'operator-error',
        detail: 'misbehaving: settled this update twice (ticket already settled, cannot be settled)',
      },
    ]);
    expect(faults).to.deep.equal([]);
  });

  it('reports a bad plug-in like any config error: options at their path, a missing module, a module without a definition', async () => {
    const c = config(`
  - { use: ./tag-payload.mjs, with: { field: 42 } }
  - { use: ./no-such-file.mjs }
  - { use: ./not-an-operator.mjs }`);
    expect(await problemsOf(c.flows[0]!.operators, FIXTURES)).to.deep.equal([
      'operators[0].with.field: expected string, got 42',
      'operators[0].with.value: missing (expected string)',
      `operators[1].use: cannot load "./no-such-file.mjs": Cannot find module '${FIXTURES}/no-such-file.mjs' imported from ${resolve('pipeline/plugins.ts')}`,
      'operators[2].use: "./not-an-operator.mjs" exports no operator definition (a default export or `operator` with name, summary, options and create)',
    ]);
    for (const place of ['emit', 'dedupe', 'keepOrder'])
      expect(() => config(`[{ use: ./tag-payload.mjs, after: ${place} }]`)).to.throw(
        `operators[0].after: expected one of decode, qualify, selectIdentity, projectAttributes (not after dedupe: its fingerprint must be of exactly what emit sends), got "${place}"`,
      );
  });

  describe('validate loads the plug-ins too', () => {
    const processes = new CliProcesses();
    afterEach(() => processes.killAll());
    const validate = (file: string) =>
      finished(processes.start(['validate', '--config', file], { QUALTRICS_API_TOKEN: 'x' }));
    /** A config in a directory of its own with the given `operators:` (`TAG` is the fixture plug-in's path). */
    const configWith = (operators: string): string => {
      const file = join(tempDir(), 'config.yaml');
      writeFileSync(
        file,
        `name: Plug-ins
source: { websocket: { url: "ws://127.0.0.1:1" } }
destination: { url: "https://x.qualtrics.com/e", username: u, apiToken: t }
audiences: [{ id: a1 }]
identities: [{ source: Email, target: email }]
operators: ${operators.replaceAll('TAG', join(FIXTURES, 'tag-payload.mjs'))}
`,
      );
      return file;
    };

    it('accepts the example with its plug-in', async () => {
      const result = await validate('examples/with-plugin.yaml');
      expect(result.stderr).to.equal('');
      expect(result.stdout).to.contain('examples/with-plugin.yaml: OK');
      // The chain it will run, the plug-in in its place.
      expect(result.stdout.split('\n').slice(3, 7)).to.deep.equal([
        ' 2. qualify            keep profiles in a mapped audience with a listed status',
        ' 3. selectIdentity     keep the mapped identities (plain-text emails only) and pick the one that orders and dedupes',
        ' 4. requireConsent     (plug-in ./plugins/require-consent.mjs) exclude profiles without consent',
        ' 5. projectAttributes  copy mapped profile attributes to their target paths in the payload',
      ]);
      expect(result.code).to.equal(0);
    });

    // Only loading a plug-in finds these: the config itself is well formed (a path, an operator name).
    it("refuses a plug-in's bad options, at their path, and a module that cannot load", async () => {
      const config = configWith('[{ use: "TAG", with: { field: 42, value: x } }, { use: ./missing.mjs }]');
      const result = await validate(config);
      expect(result.code).to.equal(1);
      expect(result.stdout).to.equal('');
      expect(result.stderr).to.contain('operators[0].with.field: expected string, got 42');
      expect(result.stderr).to.contain('operators[1].use: cannot load "./missing.mjs"');
    });

    it('accepts the same plug-in with good options', async () => {
      const result = await validate(configWith('[{ use: "TAG", with: { field: source, value: x } }]'));
      expect(result.stderr).to.equal('');
      expect(result.code).to.equal(0);
    });
  });
});
