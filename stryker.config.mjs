// Mutation testing: `npm run test:mutation` (not part of `npm test`: it takes long; see MUTATION.md).
// Narrow it while working: `npm run test:mutation -- --mutate lib/tracing/tracer.ts`.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  // node:test has no Stryker runner of its own: the TAP runner runs each test file in a node
  // process of its own, here through tsx, and reads its TAP output.
  testRunner: 'tap',
  tap: {
    // MUTATION_TEST_FILES=a.test.ts,b.test.ts narrows the tests too, for a quick look at one module:
    // fewer tests kill fewer mutants, so such a score is a lower bound.
    testFiles: process.env.MUTATION_TEST_FILES?.split(',') ?? ['lib/**/*.test.ts', 'services/*/*.test.ts'],
    nodeArgs: ['--test-reporter=tap', '--import', 'tsx', '-r', '{{hookFile}}', '{{testFile}}'],
    forceBail: true,
  },
  mutate: [
    'lib/tracing/*.ts',
    'lib/http-client.ts',
    'lib/retry-budget.ts',
    'lib/outbox.ts',
    'lib/messaging.ts',
    'lib/broker-conditions.ts',
    'lib/inbox.ts',
    'lib/http-transport.ts',
    'lib/head.ts',
    'lib/access-log.ts',
    'services/*/*.ts',
    '!**/*.test.ts',
    '!services/*/main.ts',
  ],
  coverageAnalysis: 'perTest',
  // CPU-heavy: one test process at a time unless asked (--concurrency N).
  concurrency: 1,
  // Some tests wait on real sockets and timers: a mutant is timed out only well past its normal time.
  timeoutMS: 10_000,
  ignorePatterns: [
    '/.data',
    '/charts',
    '/bench',
    '/e2e',
    // Stryker would rewrite it with the TypeScript compiler's JavaScript API, which TypeScript 7 (native) no
    // longer has; tsx finds the project's own tsconfig.json above the sandbox.
    '/tsconfig.json',
  ],
  // Results are kept and reused for code and tests that did not change.
  incremental: true,
  incrementalFile: 'reports/mutation/incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: true, reportScoreTable: true },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
};
