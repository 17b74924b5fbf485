import { isDeepStrictEqual } from 'node:util';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isLeft } from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { NonEmptyString, nonEmptyArray, struct } from '../../operators/model/codecs.js';
import { formatErrors } from '../../operators/model/decode-errors.js';
import { loadChain } from '../chain.js';
import { mapMessage } from '../map-message.js';
import { ConfigError } from '../config/errors.js';
import { chooseFlow } from '../config/flow-choice.js';
import { loadConfig, parseConfig, parseYamlText } from '../config/load.js';
import { messageOf } from '../../operators/model/errors.js';
import { payloadDiff } from './payload-diff.js';

const indent = (text: string): string =>
  text
    .split('\n')
    .map((line) => `      ${line}`)
    .join('\n');
import { offlineContext } from '../wire.js';

/** What a case expects: the exact payload sent, or an exclusion (reason, and optionally part of its detail). */
const Expectation = struct('expect', {}, { payload: t.UnknownRecord, excluded: NonEmptyString, detail: t.string });

const TestCase = struct('case', { name: NonEmptyString, expect: Expectation }, { input: t.unknown, message: t.string });

/** A test file: a config (a path relative to the file, or inline), the flow to test (if it has several), its cases. */
export const TestFile = struct(
  'test file',
  {
    config: t.union([NonEmptyString, t.UnknownRecord], 'a config path or an inline config'),
    cases: nonEmptyArray(TestCase),
  },
  { flow: NonEmptyString },
);

export interface CaseResult {
  readonly file: string;
  readonly name: string;
  readonly passed: boolean;
  readonly why?: string;
}

// Secrets are not needed to map: an unset variable without a fallback reads as a placeholder, so tests run
// anywhere; a `${VAR:-fallback}` reads as its fallback, as in `run`.
const offline = { placeholder: (name: string) => `unset-${name}`, fromEnvironment: false };

const readTestFile = async (file: string): Promise<string> => {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read the test file: ${messageOf(error)}`]);
  }
};

const loadTestFile = async (file: string) => {
  const decoded = TestFile.decode(parseYamlText(await readTestFile(file), file));
  if (isLeft(decoded)) throw new ConfigError(file, formatErrors(decoded.left));
  const base = dirname(resolve(file));
  const { config: configRef, cases, flow: flowName } = decoded.right;
  const config =
    typeof configRef === 'string'
      ? await loadConfig(resolve(base, configRef), process.env, offline)
      : parseConfig(JSON.stringify(configRef), process.env, `${file} (config)`, offline);
  const configDir = typeof configRef === 'string' ? dirname(resolve(base, configRef)) : base;
  const flow = chooseFlow(config, flowName, file, 'flow:');
  return { config, flow, cases, chain: await loadChain(flow, configDir, file) };
};

/**
 * Runs declarative pipeline tests, like Redpanda Connect's `test`: each case feeds one profile (or one
 * raw message) through the config's mapping (qualify, identities, attributes, plug-ins) with no network,
 * and checks the payload that would be sent or the reason it would not.
 */
export const runTestFiles = async (files: readonly string[]): Promise<CaseResult[]> => {
  const results: CaseResult[] = [];
  for (const file of files) {
    const { config, flow, cases, chain } = await loadTestFile(file);
    const context = offlineContext(config, flow);
    for (const testCase of cases) {
      const raw = testCase.message ?? JSON.stringify(testCase.input ?? null);
      const { payloads, settlements } = await mapMessage(chain, raw, context);
      const { expect } = testCase;
      const outcome = settlements[0]?.outcome;
      const got =
        payloads[0] !== undefined
          ? `payload ${JSON.stringify(payloads[0])}`
          : outcome
            ? `${outcome.kind} ${'reason' in outcome ? outcome.reason : ''}: ` +
              `${'detail' in outcome ? (outcome.detail ?? '') : ''}`
            : 'nothing';
      let why: string | undefined;
      if (expect.payload !== undefined) {
        if (payloads.length !== 1 || !isDeepStrictEqual(payloads[0], expect.payload))
          why =
            payloads.length === 1
              ? `payload differs (- expected, + sent):\n${indent(payloadDiff(expect.payload, payloads[0]))}`
              : `expected payload ${JSON.stringify(expect.payload)}\n      got ${got}`;
      } else if (expect.excluded !== undefined) {
        const matches =
          outcome?.kind === 'excluded' &&
          outcome.reason === expect.excluded &&
          (expect.detail === undefined || (outcome.detail ?? '').includes(expect.detail));
        if (!matches) {
          const containing = expect.detail ? ` (detail containing ${JSON.stringify(expect.detail)})` : '';
          why = `expected excluded ${expect.excluded}${containing}\n      got ${got}`;
        }
      } else {
        why = 'the case expects nothing: give expect.payload or expect.excluded';
      }
      results.push({ file, name: testCase.name, passed: why === undefined, ...(why ? { why } : {}) });
    }
  }
  return results;
};

/** A mocha-like report, ending in `N passed, N failed`. */
export const formatResults = (results: readonly CaseResult[]): string => {
  const lines: string[] = [];
  let file: string | undefined;
  const failures = results.filter((r) => !r.passed);
  for (const result of results) {
    if (result.file !== file) {
      file = result.file;
      lines.push('', `  ${file}`);
    }
    lines.push(result.passed ? `    ✔ ${result.name}` : `    ${failures.indexOf(result) + 1}) ${result.name}`);
  }
  lines.push('');
  for (const [i, failure] of failures.entries())
    lines.push(`  ${i + 1}) ${failure.file}: ${failure.name}`, `      ${failure.why}`, '');
  lines.push(`  ${results.length - failures.length} passed, ${failures.length} failed`);
  return `${lines.join('\n')}\n`;
};
