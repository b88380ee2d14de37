/**
 * Architecture rules from docs/architecture.md, checked on the import graph (madge):
 * no import cycles; capabilities import each other only through their index.ts; core
 * imports no capability; the client SDK imports nothing outside src/client.
 */
// madge ships no types; the two calls used here are typed locally.
import madgeUntyped from 'madge';

type MadgeResult = { obj(): Record<string, string[]>; circular(): string[][] };
const madge = madgeUntyped as unknown as (path: string, opts: object) => Promise<MadgeResult>;
import { describe, expect, it } from 'vitest';

const CAPABILITIES = ['gateway', 'connections', 'http', 'client', 'streaming', 'push', 'analytics'];

describe('architecture', async () => {
  const graph = await madge('src', {
    fileExtensions: ['ts'],
    tsConfig: 'tsconfig.json',
    excludeRegExp: [/\.test\.ts$/],
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
});
