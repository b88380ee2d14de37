/** Static checks as part of the suite, so CI enforces them: the typecheck and the linter. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');
const bin = (name: string) => join(ROOT, 'node_modules/.bin', name);

describe('static checks', () => {
  it('typechecks (tsc --noEmit, strict)', { timeout: 180_000 }, async () => {
    const r = await run(process.execPath, [bin('tsc'), '--noEmit', '-p', 'tsconfig.json'], { cwd: ROOT }).catch((e: { stdout: string }) => e);
    expect(r.stdout).toBe('');
  });

  it('lints clean (eslint, type-checked rules)', { timeout: 180_000 }, async () => {
    const r = await run(process.execPath, [bin('eslint'), '.', '--max-warnings', '0'], { cwd: ROOT }).catch((e: { stdout: string }) => e);
    expect(r.stdout).toBe('');
  });
});
