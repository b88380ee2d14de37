/**
 * Prints the plain closing line CI reads, `N passed, N failed[, N skipped]`, from
 * vitest's JSON report. A missing or unreadable report counts as one failure.
 */
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results/vitest.json';
try {
  const r = JSON.parse(readFileSync(file, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    numTodoTests: number;
    testResults: Array<{ status: string; assertionResults: unknown[] }>;
  };
  // A file that failed to load has no assertion results: count it as a failure.
  const brokenFiles = r.testResults.filter(
    (t) => t.status === 'failed' && t.assertionResults.length === 0,
  ).length;
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(
    `${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles} failed${skipped ? `, ${skipped} skipped` : ''}`,
  );
  process.exit(r.numFailedTests + brokenFiles > 0 ? 1 : 0);
} catch (err) {
  console.log('0 passed, 1 failed');
  console.error(`could not read ${file}: ${String(err)}`);
  process.exit(1);
}
