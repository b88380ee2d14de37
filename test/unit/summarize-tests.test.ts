/**
 * scripts/summarize-tests.ts: the closing `N passed, N failed` line of scripts/test.sh
 * counts every way a run can fail — failed tests, files failed by a hook (the leak
 * check) or a load error, missed coverage thresholds, a non-zero vitest exit — and the
 * script's exit code follows.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../scripts/summarize-tests.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'backbeat-summary-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function report(r: object): string {
  const f = join(dir, `report-${n++}.json`);
  writeFileSync(f, JSON.stringify(r));
  return f;
}
function log(text: string): string {
  const f = join(dir, `log-${n++}.txt`);
  writeFileSync(f, text);
  return f;
}

async function summarize(args: string[]): Promise<{ code: number; lines: string[] }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], (err, stdout) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, lines: stdout.trim().split('\n') });
    });
  });
}

const passing = {
  success: true,
  numPassedTests: 3,
  numFailedTests: 0,
  numPendingTests: 1,
  numTodoTests: 0,
  testResults: [
    {
      name: '/r/a.test.ts',
      status: 'passed',
      assertionResults: [{ status: 'passed' }, { status: 'passed' }],
    },
    {
      name: '/r/b.test.ts',
      status: 'passed',
      assertionResults: [{ status: 'passed' }, { status: 'skipped' }],
    },
  ],
};

describe('summarize-tests', () => {
  it('passes a clean run', async () => {
    expect(await summarize([report(passing), '--exit-code', '0'])).toEqual({
      code: 0,
      lines: ['3 passed, 0 failed, 1 skipped'],
    });
  });

  it('counts failed tests', async () => {
    const r = {
      ...passing,
      success: false,
      numPassedTests: 2,
      numFailedTests: 1,
      testResults: [
        {
          name: '/r/a.test.ts',
          status: 'failed',
          assertionResults: [{ status: 'passed' }, { status: 'failed' }],
        },
      ],
    };
    expect(await summarize([report(r), '--exit-code', '1'])).toEqual({
      code: 1,
      lines: ['2 passed, 1 failed, 1 skipped'],
    });
  });

  it('counts a file failed by a hook (the leak check) although all its tests passed', async () => {
    const r = {
      ...passing,
      success: false,
      testResults: [
        { name: '/r/leaky.test.ts', status: 'failed', assertionResults: [{ status: 'passed' }] },
        { name: '/r/broken.test.ts', status: 'failed', assertionResults: [] },
      ],
    };
    expect(await summarize([report(r), '--exit-code', '1'])).toEqual({
      code: 1,
      lines: [
        'file failed outside its tests (load error or hook, e.g. a leak): /r/leaky.test.ts',
        'file failed outside its tests (load error or hook, e.g. a leak): /r/broken.test.ts',
        '3 passed, 2 failed, 1 skipped',
      ],
    });
  });

  it('counts each missed coverage threshold from the log', async () => {
    const text =
      ' % Coverage report from v8\n' +
      '\u001b[31mERROR: Coverage for lines (94.01%) does not meet global threshold (95%)\u001b[39m\n' +
      'ERROR: Coverage for branches (84.6%) does not meet global threshold (85%)\n' +
      'Statements   : 94.2% ( 100/106 )\n';
    expect(await summarize([report(passing), '--log', log(text), '--exit-code', '1'])).toEqual({
      code: 1,
      lines: [
        'coverage threshold failed: Coverage for lines (94.01%) does not meet global threshold (95%)',
        'coverage threshold failed: Coverage for branches (84.6%) does not meet global threshold (85%)',
        '3 passed, 2 failed, 1 skipped',
      ],
    });
  });

  it('passes when the log has no missed threshold', async () => {
    const text = 'Lines        : 95.6% ( 956/1000 )\n';
    expect(await summarize([report(passing), '--log', log(text), '--exit-code', '0'])).toEqual({
      code: 0,
      lines: ['3 passed, 0 failed, 1 skipped'],
    });
  });

  it('counts a non-zero vitest exit with no failed test as one failure', async () => {
    expect(await summarize([report(passing), '--exit-code', '1'])).toEqual({
      code: 1,
      lines: [
        'vitest exited with code 1 without a failed test: counted as one failure (see the log above)',
        '3 passed, 1 failed, 1 skipped',
      ],
    });
    expect(await summarize([report({ ...passing, success: false })])).toEqual({
      code: 1,
      lines: [
        'vitest reported an unsuccessful run without a failed test: counted as one failure (see the log above)',
        '3 passed, 1 failed, 1 skipped',
      ],
    });
  });

  it('counts a missing report as one failure', async () => {
    expect(await summarize([join(dir, 'absent.json')])).toEqual({ code: 1, lines: ['0 passed, 1 failed'] });
  });
});
