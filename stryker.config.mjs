// Mutation testing (StrykerJS): `npm run test:mutation`. See README "Mutation testing".
//
// MODULES lists, per module, the files whose logic is decided in-process and the unit tests that
// cover them. To add a module (src/runs, the guardrails, the cache), add an entry: its files are
// mutated and its tests join the run. Only fast unit tests run here: each mutant re-runs the tests
// that cover it, so a test that starts Temporal would make a run take hours. What needs Temporal,
// Postgres or HTTP (tenant filters in SQL, quotas, history encryption) is proven in the
// integration tests by hand-made mutants (docs/mutation-testing.md).
export const MODULES = {
  'src/api': {
    mutate: ['src/api/reset-point.ts', 'src/api/idempotency.ts', 'src/api/scopes.ts', 'src/api/validate.ts', 'src/api/links.ts'],
    tests: ['test/unit/operator-helpers.test.ts', 'test/unit/api-checks.test.ts'],
  },
  'src/auth': {
    mutate: ['src/auth/api-keys.ts', 'src/auth/scopes.ts'],
    tests: ['test/unit/sanitize-and-keys.test.ts', 'test/unit/api-checks.test.ts'],
  },
  'src/llm': {
    // prompt.ts builds messages; the wording itself lives in prompts/*.md (not mutated).
    mutate: ['src/llm/errors.ts', 'src/llm/pricing.ts', 'src/llm/prompt.ts'],
    tests: ['test/unit/llm-errors.test.ts', 'test/unit/llm-prompt.test.ts'],
  },
  'src/codec': {
    mutate: ['src/codec/aes-gcm-codec.ts', 'src/codec/keys.ts'],
    tests: ['test/unit/payload-codec.test.ts'],
  },
  'src/documents': {
    mutate: ['src/documents/media-type.ts', 'src/documents/chunk.ts'],
    tests: ['test/unit/documents.test.ts'],
  },
};

const modules = Object.values(MODULES);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'mocha',
  // tsx compiles the TypeScript tests and sources inside each test-runner process.
  testRunnerNodeArgs: ['--import', 'tsx'],
  mochaOptions: { spec: [...new Set(modules.flatMap((m) => m.tests))], 'no-config': true },
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: modules.flatMap((m) => m.mutate),
  coverageAnalysis: 'perTest',
  // The machine is shared: two test runners, one checker.
  concurrency: 2,
  checkerNodeArgs: [],
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, reportMutants: false, reportScoreTable: true },
  tempDirName: '.stryker-tmp',
  ignorePatterns: ['.data', '.tools', 'reports', 'bench/results', 'coverage', 'dist'],
  // A mutant that loops forever is caught by this; the unit tests take well under a second.
  timeoutMS: 3000,
};
