/**
 * The leak check (test/setup/leaks.ts) can fail: a child vitest runs the fixtures in
 * test/fixtures/leaks/ with the same settings as the real suite, and the files that
 * leave an interval, a listening server, a child process open fail, naming what leaked,
 * while the file that closes everything (late, without waiting) passes.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countResources, describeCounts, leakedBeyond } from '../setup/leak-report.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

interface FileResult {
  name: string;
  status: string;
  message: string;
  assertionResults: Array<{ status: string }>;
}

describe('leak check on the fixtures (child vitest)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'backbeat-leaks-'));
  const out = join(dir, 'report.json');
  let exitCode: number | null = null;
  let files: Map<string, FileResult>;

  beforeAll(async () => {
    // The child must not think it is a vitest worker of ours.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
    exitCode = await new Promise<number | null>((resolve) => {
      execFile(
        process.execPath,
        [
          join(root, 'node_modules/vitest/vitest.mjs'),
          'run',
          '--config',
          join(root, 'test/fixtures/leaks/vitest.config.ts'),
          '--reporter=json',
          `--outputFile.json=${out}`,
        ],
        { cwd: root, env, maxBuffer: 16 * 1024 * 1024 },
        (err) => resolve(err ? ((err as { code?: number }).code ?? 1) : 0),
      );
    });
    const report = JSON.parse(readFileSync(out, 'utf8')) as { testResults: FileResult[] };
    files = new Map(report.testResults.map((r) => [r.name.slice(r.name.lastIndexOf('/') + 1), r]));
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits non-zero because files leaked', () => {
    expect(exitCode).toBe(1);
    expect([...files.keys()].sort()).toEqual(['clean.leak.ts', 'leaky-child.leak.ts', 'leaky.leak.ts']);
  });

  it('fails the file that leaves an interval and a listening server, naming both', () => {
    const r = files.get('leaky.leak.ts')!;
    expect(r.status).toBe('failed');
    // The test itself passed: only the leak check failed the file.
    expect(r.assertionResults.map((a) => a.status)).toEqual(['passed']);
    expect(r.message).toContain(
      'test file leaked resources still open 2000 ms after its last test: TCPServerWrap x1, Timeout x1 (baseline before the file: PipeWrap x4)',
    );
  });

  it('fails the file that leaves a child process and a timeout, naming both', () => {
    const r = files.get('leaky-child.leak.ts')!;
    expect(r.status).toBe('failed');
    expect(r.message).toContain('after its last test: ProcessWrap x1, Timeout x1 (');
  });

  it('passes the file that closes everything, even when the closes finish late', () => {
    const r = files.get('clean.leak.ts')!;
    expect(r.message).toBe('');
    expect(r.status).toBe('passed');
    expect(r.assertionResults.map((a) => a.status)).toEqual(['passed', 'passed']);
  });
});

describe('leak report', () => {
  it('counts resources by type', () => {
    expect([...countResources(['PipeWrap', 'Timeout', 'PipeWrap'])]).toEqual([
      ['PipeWrap', 2],
      ['Timeout', 1],
    ]);
    expect(countResources([]).size).toBe(0);
  });

  it('reports only what exceeds the baseline, per type', () => {
    const baseline = countResources(['PipeWrap', 'PipeWrap', 'Timeout']);
    const now = countResources(['PipeWrap', 'Timeout', 'Timeout', 'Timeout', 'TCPWRAP']);
    expect([...leakedBeyond(baseline, now, [])]).toEqual([
      ['Timeout', 2],
      ['TCPWRAP', 1],
    ]);
    expect(leakedBeyond(baseline, baseline, []).size).toBe(0);
  });

  it('subtracts an allow-list entry by its count, not the whole type', () => {
    const now = countResources(['Timeout', 'Timeout', 'Timeout']);
    const allowed = [{ type: 'Timeout', count: 1, why: 'a library timer' }];
    expect([...leakedBeyond(new Map(), now, allowed)]).toEqual([['Timeout', 2]]);
  });

  it('describes counts sorted by type', () => {
    expect(describeCounts(countResources(['Timeout', 'PipeWrap', 'Timeout']))).toBe(
      'PipeWrap x1, Timeout x2',
    );
    expect(describeCounts(new Map())).toBe('nothing');
  });
});
