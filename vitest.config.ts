import { defineConfig } from 'vitest/config';

/**
 * Test categories as the seed names them, each a vitest project selectable with
 * `--project NAME` (npm run test:unit, …); `npm test` runs all of them.
 * - unit: beside the code (`src/**\/*.test.ts`) and `test/unit`
 * - integration: contract suites (every engine), raw-frame protocol conformance, e2e
 * - performance: load correctness (no wall-clock asserts; speed lives in bench/)
 * - security: JWT attacks, origins, grants, limits, fuzzing
 * - ml: models against their baselines
 */
const common = { testTimeout: 30_000, hookTimeout: 60_000 };

export default defineConfig({
  test: {
    // A category that lost every test must fail, not pass quietly.
    passWithNoTests: false,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/**/*.test.ts', 'src/main.ts'],
      reporter: ['text-summary', 'json-summary'],
      reportsDirectory: 'coverage',
    },
    projects: [
      { test: { ...common, name: 'unit', include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'] } },
      { test: { ...common, name: 'integration', include: ['test/{contract,protocol,e2e}/**/*.test.ts'] } },
      {
        test: {
          ...common,
          name: 'performance',
          include: ['test/performance/**/*.test.ts'],
          testTimeout: 180_000,
          fileParallelism: false,
        },
      },
      { test: { ...common, name: 'security', include: ['test/security/**/*.test.ts'] } },
      { test: { ...common, name: 'ml', include: ['test/ml/**/*.test.ts'] } },
    ],
  },
});
