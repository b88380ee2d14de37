/**
 * Static checks as part of the suite, so CI enforces them: the typecheck, the linter and the
 * formatter.
 * Each check must run and exit 0: a missing binary, a crash or a non-zero exit fails it
 * (reading stdout alone would pass when the tool never ran).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');
const bin = (name: string) => join(ROOT, 'node_modules/.bin', name);

async function check(tool: string, args: string[]): Promise<{ code: number; output: string }> {
  expect(existsSync(bin(tool)), `${tool} is installed`).toBe(true);
  try {
    const r = await run(process.execPath, [bin(tool), ...args], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, output: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === 'number' ? err.code : -1,
      output: `${err.stdout ?? ''}${err.stderr ?? ''}${String(e)}`,
    };
  }
}

describe('static checks', () => {
  it('typechecks (tsc --noEmit, strict)', { timeout: 180_000 }, async () => {
    const r = await check('tsc', ['--noEmit', '-p', 'tsconfig.json']);
    expect(r.output.trim()).toBe('');
    expect(r.code).toBe(0);
  });

  it('lints clean (eslint, type-checked rules)', { timeout: 180_000 }, async () => {
    const r = await check('eslint', ['.', '--max-warnings', '0']);
    expect(r.output.trim()).toBe('');
    expect(r.code).toBe(0);
  });

  it('is formatted (prettier --check)', { timeout: 180_000 }, async () => {
    const r = await check('prettier', ['--check', '--log-level', 'warn', '.']);
    expect(r.output.trim()).toBe('');
    expect(r.code).toBe(0);
  });
});
