import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Mocha from 'mocha';
import { INSTRUMENTER_CONSTANTS, type MutantCoverage } from '@stryker-mutator/api/core';
import { commonTokens, declareClassPlugin, PluginKind, tokens } from '@stryker-mutator/api/plugin';
import {
  determineHitLimitReached,
  DryRunStatus,
  TestStatus,
  toMutantRunResult,
  type DryRunOptions,
  type DryRunResult,
  type MutantActivation,
  type MutantRunOptions,
  type MutantRunResult,
  type TestResult,
  type TestRunner,
  type TestRunnerCapabilities,
} from '@stryker-mutator/api/test-runner';
import type { StrykerOptions } from '@stryker-mutator/api/core';

/**
 * A Stryker test runner for mocha 12, used by `npm run test:mutation`.
 *
 * Why it exists: @stryker-mutator/mocha-runner 9 (the last line that runs on Node 20) needs mocha < 12
 * and loads mocha's CommonJS internals, which mocha 12 no longer has; the `command` runner would run
 * every spec for every mutant, an hour instead of minutes. This one does what the official runner does,
 * with mocha's public API only: load the specs once (they are ES modules, which cannot be reloaded),
 * record which test reaches which mutant in the dry run, and for each mutant run only those tests,
 * switching the mutant on through the instrumenter's global.
 *
 * Options (`mochaUnit` in the Stryker config): `spec`, a list of spec files or directories (every
 * `*.spec.ts` below them), relative to the sandbox.
 */

interface InstrumenterContext {
  activeMutant?: string | undefined;
  currentTestId?: string | undefined;
  mutantCoverage?: MutantCoverage | undefined;
  hitCount?: number | undefined;
  hitLimit?: number | undefined;
}

interface MochaUnitOptions {
  readonly spec: readonly string[];
}

const SPEC_SUFFIX = '.spec.ts';

/** Spec files named directly, and every `*.spec.ts` under a named directory, sorted. */
const specFiles = (entries: readonly string[]): string[] =>
  entries.flatMap((entry) => {
    const path = resolve(entry);
    if (entry.endsWith('.ts')) return [path];
    return readdirSync(path, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith(SPEC_SUFFIX))
      .map((file) => join(path, file))
      .sort();
  });

const setBail = (suite: Mocha.Suite, bail: boolean): void => {
  suite.bail(bail);
  for (const child of suite.suites) setBail(child, bail);
};

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Mocha's output would only clutter Stryker's: results are read from the runner's events. */
class SilentReporter extends Mocha.reporters.Base {}

export class MochaUnitRunner implements TestRunner {
  static inject = tokens(commonTokens.options);
  readonly #spec: readonly string[];
  readonly #context: InstrumenterContext;
  #mocha: Mocha | undefined;
  #loaded = false;
  #recordCoverage = false;

  constructor(options: StrykerOptions) {
    const own = (options as StrykerOptions & { mochaUnit?: MochaUnitOptions }).mochaUnit;
    if (!own || own.spec.length === 0) throw new Error('mochaUnit.spec: list the spec files or directories to run');
    this.#spec = own.spec;
    const globals = globalThis as unknown as Record<string, InstrumenterContext | undefined>;
    this.#context = globals[INSTRUMENTER_CONSTANTS.NAMESPACE] ??= {};
  }

  capabilities(): TestRunnerCapabilities {
    // The specs are ES modules: once imported they stay, so Stryker starts a new process for static mutants.
    return { reloadEnvironment: false };
  }

  async init(): Promise<void> {
    // No timeout of mocha's own: Stryker times each run from the dry run and ends a worker that hangs.
    const mocha = new Mocha({ timeout: 0, reporter: SilentReporter });
    mocha.cleanReferencesAfterRun(false);
    for (const file of specFiles(this.#spec)) mocha.addFile(file);
    const context = this.#context;
    const runner = this;
    mocha.suite.beforeEach(function () {
      if (runner.#recordCoverage) context.currentTestId = this.currentTest?.fullTitle();
    });
    this.#mocha = mocha;
  }

  async dryRun({ coverageAnalysis, disableBail }: DryRunOptions): Promise<DryRunResult> {
    this.#recordCoverage = coverageAnalysis === 'perTest';
    try {
      const result = await this.#run(disableBail);
      if (result.status === DryRunStatus.Complete && coverageAnalysis !== 'off') {
        return { ...result, ...(this.#context.mutantCoverage ? { mutantCoverage: this.#context.mutantCoverage } : {}) };
      }
      return result;
    } finally {
      this.#recordCoverage = false;
      this.#context.currentTestId = undefined;
    }
  }

  async mutantRun(options: MutantRunOptions): Promise<MutantRunResult> {
    const { activeMutant, testFilter, disableBail, hitLimit, mutantActivation } = options;
    this.#context.hitLimit = hitLimit;
    this.#context.hitCount = hitLimit === undefined ? undefined : 0;
    const mocha = this.#mocha!;
    // Every run sets its own filter: a filter left from the previous mutant would skip tests.
    mocha.grep(testFilter ? new RegExp(testFilter.map((id) => `(^${escapeRegExp(id)}$)`).join('|')) : /.*/);
    return toMutantRunResult(await this.#run(disableBail, activeMutant.id, mutantActivation));
  }

  async dispose(): Promise<void> {
    try {
      this.#mocha?.dispose();
    } catch {
      // A run still in progress (Stryker gave up on it): the process is about to end anyway.
    }
  }

  async #run(disableBail: boolean, activeMutant?: string, activation?: MutantActivation): Promise<DryRunResult> {
    const mocha = this.#mocha!;
    setBail(mocha.suite, !disableBail);
    try {
      if (!this.#loaded) {
        // A static mutant runs while the modules load: switch it on before the first import.
        this.#context.activeMutant = activation === 'static' ? activeMutant : undefined;
        await mocha.loadFilesAsync();
        this.#loaded = true;
      }
      this.#context.activeMutant = activeMutant;
      const tests = await new Promise<TestResult[]>((done) => {
        const results: TestResult[] = [];
        let started = Date.now();
        const runner = mocha.run(() => done(results));
        runner.on('test', () => (started = Date.now()));
        runner.on('pass', (test) => {
          const id = test.fullTitle();
          const timeSpentMs = Date.now() - started;
          const fileName = test.file ? { fileName: test.file } : {};
          results.push({ id, name: id, status: TestStatus.Success, timeSpentMs, ...fileName });
        });
        runner.on('fail', (test, error: Error) => {
          const id = test.ctx?.currentTest?.fullTitle() ?? test.fullTitle();
          const failureMessage = error.message || String(error.stack);
          results.push({ id, name: id, status: TestStatus.Failed, failureMessage, timeSpentMs: Date.now() - started });
        });
      });
      const hitLimit = determineHitLimitReached(this.#context.hitCount, this.#context.hitLimit);
      return hitLimit ?? { status: DryRunStatus.Complete, tests };
    } catch (error) {
      const errorMessage = error instanceof Error ? (error.stack ?? error.message) : String(error);
      return { status: DryRunStatus.Error, errorMessage };
    }
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.TestRunner, 'mocha-unit', MochaUnitRunner)];
