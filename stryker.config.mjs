import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Mutation testing: `npm run test:mutation` (not in CI; the score and the survivors are in BENCHMARKS.md).
// It mutates the operators and the adapters the delivery rules rest on, and runs the unit specs only
// (in memory and on the local Redis), so it finishes in minutes.
export default {
  mutate: [
    'operators/**/*.ts',
    'adapters/rate-limit-plan.ts',
    'adapters/memory/rate-limiter.ts',
    'adapters/redis/rate-limiter.ts',
    'adapters/memory/dedupe-store.ts',
    'adapters/memory/delivery-log.ts',
    'adapters/redis/dedupe-store.ts',
  ],
  // @stryker-mutator/mocha-runner 9 does not run mocha 12: spec/helpers/stryker-mocha-runner.ts does.
  plugins: ['./spec/helpers/stryker-mocha-runner.ts'],
  testRunner: 'mocha-unit',
  testRunnerNodeArgs: ['--import', 'tsx'],
  checkerNodeArgs: ['--import', 'tsx'],
  mochaUnit: {
    spec: [
      'spec/operators',
      'spec/adapters/memory',
      'spec/adapters/redis/rate-limiter.spec.ts',
      'spec/adapters/redis/stores.spec.ts',
      // The whole operator chain in memory, built from the definitions as the pipeline builds it.
      'spec/pipeline/accounting.spec.ts',
      'spec/pipeline/golden-payload.spec.ts',
    ],
  },
  coverageAnalysis: 'perTest',
  // tsx runs the sources, so no type checker: Stryker's needs the TypeScript API, which tsc 7 (Go) does not have.
  checkers: [],
  // Stryker would rewrite tsconfig.json through that same API; nothing in it needs rewriting for a sandbox.
  tsconfigFile: 'tsconfig.stryker-none.json',
  concurrency: 2,
  reporters: ['clear-text', 'progress', 'json'],
  // Every mutant with its status, for reading the survivors: node -e or jq over it.
  jsonReporter: { fileName: join(tmpdir(), 'qualtrics-automations-mutation.json') },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  // Outside the checkout: the sandbox is a full copy, and nothing of it belongs in git.
  tempDirName: join(tmpdir(), 'qualtrics-automations-stryker'),
  cleanTempDir: 'always',
  warnings: { unknownOptions: false },
};
