/**
 * Architecture rules from docs/architecture.md, checked on the import graph (madge):
 * no import cycles; capabilities import each other only through their index.ts; core
 * imports no capability; the client SDK imports nothing outside src/client; bounded caches
 * go through core/cache.
 */
// madge ships no types; the two calls used here are typed locally.
import madgeUntyped from 'madge';

type MadgeResult = { obj(): Record<string, string[]>; circular(): string[][] };
const madge = madgeUntyped as unknown as (path: string, opts: object) => Promise<MadgeResult>;
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CAPABILITIES = ['gateway', 'connections', 'http', 'client', 'streaming', 'push', 'analytics'];

describe('architecture', async () => {
  const graph = await madge('src', {
    fileExtensions: ['ts'],
    tsConfig: 'tsconfig.json',
    excludeRegExp: [/\.test\.ts$/],
    // `import type` is erased by type stripping: it cannot make a load-order cycle.
    detectiveOptions: { ts: { skipTypeImports: true }, tsx: { skipTypeImports: true } },
  });
  const deps = graph.obj();

  it('has no import cycles', () => {
    expect(graph.circular()).toEqual([]);
  });

  it('sees the whole source tree', () => {
    expect(Object.keys(deps).length).toBeGreaterThan(40);
    expect(deps['app.ts']).toContain('gateway/index.ts');
  });

  it('capabilities import other capabilities only through their index.ts', () => {
    const bad: string[] = [];
    for (const [file, imports] of Object.entries(deps)) {
      const from = file.split('/')[0]!;
      for (const imp of imports) {
        const to = imp.split('/')[0]!;
        if (to === from || !CAPABILITIES.includes(to)) continue;
        if (imp !== `${to}/index.ts`) bad.push(`${file} → ${imp}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('core imports no capability, not even through its index.ts', () => {
    const bad = Object.entries(deps)
      .filter(([f]) => f.startsWith('core/'))
      .flatMap(([f, imps]) =>
        imps.filter((i) => CAPABILITIES.includes(i.split('/')[0]!)).map((i) => `${f} → ${i}`),
      );
    expect(bad).toEqual([]);
  });

  it('the client SDK imports nothing outside src/client', () => {
    const bad = Object.entries(deps)
      .filter(([f]) => f.startsWith('client/'))
      .flatMap(([f, imps]) => imps.filter((i) => !i.startsWith('client/')).map((i) => `${f} → ${i}`));
    expect(bad).toEqual([]);
  });

  it('bounded caches go through core/cache: no direct lru-cache import, no Map evicting keys().next()', () => {
    const bad: string[] = [];
    for (const file of sourceFiles('src')) {
      const text = readFileSync(file, 'utf8');
      if (file.endsWith('.test.ts') || file.startsWith(join('src', 'core', 'cache'))) continue;
      if (/from 'lru-cache'/.test(text) && !/import type \{[^}]*\} from 'lru-cache'/.test(text))
        bad.push(`${file}: imports lru-cache (use boundedCache from core/cache)`);
      if (/\.keys\(\)\.next\(\)/.test(text)) bad.push(`${file}: evicts a Map with keys().next()`);
    }
    expect(bad).toEqual([]);
  });
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : [],
  );
}
