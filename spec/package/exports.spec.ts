import { expect } from 'chai';
import { readFileSync } from 'node:fs';

/**
 * The package's public API is a contract with plug-in authors: what it exports is written down here,
 * and a change to it (an internal leaking out, a helper going away) fails until this list is changed
 * on purpose. Types are not checked here (they vanish at run time); the pack test compiles against them.
 */
const PUBLIC = [
  'DecodeError',
  'NonEmptyString',
  'Reasons',
  'copyWith',
  'decodeOrThrow',
  'defineOperator',
  'delivered',
  'distinctBy',
  'duplicate',
  'excluded',
  'failed',
  'getPath',
  'integerIn',
  'nonEmptyArray',
  'perEnvelope',
  'perEnvelopeAsync',
  'refine',
  'setPath',
  'settle',
  'struct',
  'withDefault',
  'withDefaults',
  'withMessage',
];

const TESTING = ['testOperator'];

describe('the package exports', () => {
  it("'qualtrics-automations' exports exactly what a plug-in author needs", async () => {
    expect(Object.keys(await import('../../operators/index.js')).sort()).to.deep.equal(PUBLIC);
  });

  it("'qualtrics-automations/testing' exports the test helper only", async () => {
    expect(Object.keys(await import('../../operators/testing.js')).sort()).to.deep.equal(TESTING);
  });

  it('maps exactly those two entry points, to the built files', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, unknown> };
    expect(pkg.exports).to.deep.equal({
      '.': { types: './dist/operators/index.d.ts', default: './dist/operators/index.js' },
      './testing': { types: './dist/operators/testing.d.ts', default: './dist/operators/testing.js' },
      './package.json': './package.json',
    });
  });
});
