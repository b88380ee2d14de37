/**
 * Prints the plain closing line CI reads, `N passed, N failed[, N skipped]`, from
 * vitest's JSON report. A missing or unreadable report counts as one failure.
 *
 *   node scripts/summarize-tests.ts [report.json] [--log vitest.log] [--exit-code N]
 *
 * Besides failed tests, a failure is:
 * - a test file that failed with no failed test in it: it did not load, or a hook failed
 *   (e.g. the leak check of test/setup/leaks.ts, which runs in an afterAll);
 * - each coverage threshold vitest reports as missed (`ERROR: Coverage for lines (94%)
 *   does not meet global threshold (95%)`, read from the run's log);
 * - vitest exiting non-zero (or the report saying the run did not succeed) with none of
 *   the above: an unhandled error, for instance. It counts as one.
 * Each reason is printed above the closing line.
 */
import { readFileSync } from 'node:fs';

interface Report {
  success?: boolean;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: Array<{ name?: string; status: string; assertionResults: Array<{ status?: string }> }>;
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const ansi = /\u001b\[[0-9;]*m/g;

/** vitest's messages for missed coverage thresholds, from the run's log. */
function missedThresholds(log: string): string[] {
  return log
    .replace(ansi, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^ERROR: (Coverage for .* does not meet|Uncovered .* exceed) .*threshold/.test(l));
}

const positional = process.argv
  .slice(2)
  .filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
const file = positional[0] ?? 'test-results/vitest.json';
const logFile = option('--log');
const exitCode = Number(option('--exit-code') ?? 0);

let r: Report;
try {
  r = JSON.parse(readFileSync(file, 'utf8')) as Report;
} catch (err) {
  console.log('0 passed, 1 failed');
  console.error(`could not read ${file}: ${String(err)}`);
  process.exit(1);
}

let failed = r.numFailedTests;
// A file that failed without a failed test: it did not load, or a hook (the leak check) failed.
for (const t of r.testResults) {
  if (t.status === 'failed' && !t.assertionResults.some((a) => a.status === 'failed')) {
    console.log(`file failed outside its tests (load error or hook, e.g. a leak): ${t.name ?? '?'}`);
    failed += 1;
  }
}
if (logFile) {
  let log = '';
  try {
    log = readFileSync(logFile, 'utf8');
  } catch (err) {
    console.error(`could not read ${logFile}: ${String(err)}`);
  }
  for (const m of missedThresholds(log)) {
    console.log(`coverage threshold failed: ${m.replace(/^ERROR: /, '')}`);
    failed += 1;
  }
}
if (failed === 0 && (exitCode !== 0 || r.success === false)) {
  console.log(
    `vitest ${exitCode !== 0 ? `exited with code ${exitCode}` : 'reported an unsuccessful run'} without a failed test: counted as one failure (see the log above)`,
  );
  failed = 1;
}
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`${r.numPassedTests} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 ? 1 : 0);
