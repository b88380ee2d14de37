import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TemplateEngine, TemplateError, type TemplateDefinition } from './index.ts';

const SEED = 21;

/** Templates that use their variables every way an author might. */
const TEMPLATES: TemplateDefinition[] = [
  {
    name: 'new-release',
    version: 1,
    defaultLocale: 'en',
    locales: {
      en: {
        title: 'New from {{ artist }}',
        body: '{{ count | plural: "one {# new track} other {# new tracks}" }} on {{ album }}',
      },
      fr: {
        title: 'Nouveauté : {{ artist | upcase }}',
        body: '{{ count | plural: "one {# titre} other {# titres}" }}',
      },
    },
  },
  {
    name: 'weekly',
    version: 3,
    defaultLocale: 'en',
    locales: {
      en: {
        title: '{{ name | default: "Hey" | capitalize }}, your week',
        body: '{% for t in tracks limit: 3 %}{{ forloop.index }}. {{ t.title }}{% unless forloop.last %}, {% endunless %}{% endfor %}{% if minutes > 60 %} ({{ minutes | divided_by: 60 }} h){% endif %}',
      },
    },
  },
  {
    name: 'mixed',
    version: 'a',
    defaultLocale: 'de',
    locales: {
      de: {
        title: '{{ a }}{{ b.c }}{{ d[0] }}',
        body: '{{ a | size }} {{ a | truncate: 5 }} {{ a | append: b }} {{ e | json }}',
      },
    },
  },
];

const KEYS = [
  'artist',
  'count',
  'album',
  'name',
  'tracks',
  'minutes',
  'a',
  'b',
  'c',
  'd',
  'e',
  'title',
  '__proto__',
  'constructor',
];
const anythingArb = fc.anything({
  maxDepth: 3,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  key: fc.oneof(fc.constantFrom(...KEYS), fc.string()),
});
/** Mostly what senders send (text, numbers, lists of records), often anything at all. */
const valueArb = fc.oneof(
  { arbitrary: fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean()), weight: 3 },
  { arbitrary: fc.array(fc.record({ title: fc.string() }), { maxLength: 5 }), weight: 1 },
  { arbitrary: anythingArb, weight: 2 },
);
/** Each known key usually present (absent or null sometimes), plus arbitrary extra keys. */
const variablesArb = fc
  .tuple(
    fc.record(Object.fromEntries(KEYS.map((k) => [k, fc.option(valueArb, { freq: 6, nil: undefined })]))),
    fc.dictionary(fc.string(), valueArb, { maxKeys: 3 }),
  )
  .map(([known, extra]) => ({ ...extra, ...known }));
const localeArb = fc.oneof(
  fc.constantFrom('en', 'fr-CA', 'de', 'pt-BR'),
  fc.string(),
  fc.constant(undefined),
);

/** What a render did: its output, or the error's class and message (anything else fails the test). */
function outcome(
  engine: TemplateEngine,
  def: TemplateDefinition,
  locale: string | undefined,
  vars: Record<string, unknown>,
): string {
  try {
    return JSON.stringify(engine.render(def, locale, vars));
  } catch (err) {
    if (!(err instanceof TemplateError)) throw new Error(`untyped error: ${String(err)}`, { cause: err });
    return `${err.name}: ${err.message}`;
  }
}

describe('template properties', () => {
  it('arbitrary variable values never throw anything but a TemplateError, and render deterministically', () => {
    const a = new TemplateEngine();
    const b = new TemplateEngine();
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.constantFrom(...TEMPLATES), localeArb, variablesArb, (def, locale, vars) => {
        const first = outcome(a, def, locale, vars);
        seen.add(first.startsWith('{') ? 'rendered' : first.split(':')[0]!);
        expect(outcome(a, def, locale, vars)).toBe(first); // again, from the cache
        expect(outcome(b, def, locale, vars)).toBe(first); // another engine
      }),
      { seed: SEED, numRuns: 1500 },
    );
    // The arbitraries reach every outcome, not just one kind of error.
    expect([...seen].sort()).toEqual(['MissingVariableError', 'TemplateRenderError', 'rendered']);
  });

  it('well-typed variables always render, to strings containing the values', () => {
    const engine = new TemplateEngine();
    const textArb = fc.string({ maxLength: 40 });
    fc.assert(
      fc.property(
        textArb,
        fc.integer({ min: 0, max: 1e6 }),
        textArb,
        localeArb,
        (artist, count, album, locale) => {
          const r = engine.render(TEMPLATES[0]!, locale, { artist, count, album });
          expect(r.title.includes(artist) || r.title.includes(artist.toUpperCase())).toBe(true);
          expect(['en', 'fr']).toContain(r.locale);
          expect(r.body).toMatch(/titres?|tracks?/);
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('arbitrary template sources either validate or fail with a TemplateError', () => {
    const engine = new TemplateEngine();
    const piece = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom(
        '{{',
        '}}',
        '{%',
        '%}',
        '{{ a }}',
        '{% if a %}',
        '{% endif %}',
        '{% for x in a %}',
        '{% endfor %}',
        '| plural: "one {#} other {#}"',
        '| upcase',
        '{% raw %}',
        '{% endraw %}',
        '{% comment %}',
        '{% include "x" %}',
        '"',
        "'",
      ),
    );
    const sourceArb = fc.array(piece, { maxLength: 8 }).map((p) => p.join(''));
    fc.assert(
      fc.property(sourceArb, sourceArb, (title, body) => {
        try {
          engine.validate({
            name: 'fuzz',
            version: 1,
            defaultLocale: 'en',
            locales: { en: { title, body } },
          });
        } catch (err) {
          expect(err).toBeInstanceOf(TemplateError);
        }
      }),
      { seed: SEED, numRuns: 1500 },
    );
  });
});

describe('render latency (printed, not asserted)', () => {
  it('per-template p50/p99 over 3,000 renders each', () => {
    const engine = new TemplateEngine();
    const inputs: Record<string, Record<string, unknown>> = {
      'new-release': { artist: 'Daft Punk', count: 3, album: 'Discovery' },
      weekly: {
        name: 'kim',
        tracks: [{ title: 'One' }, { title: 'Two' }, { title: 'Three' }, { title: 'Four' }],
        minutes: 185,
      },
      mixed: { a: 'hello world', b: { c: 'x' }, d: [1], e: { k: [1, 2] } },
    };
    const lines: string[] = [];
    for (const def of TEMPLATES) {
      const vars = inputs[def.name]!;
      const times: number[] = [];
      for (let i = 0; i < 3000; i++) {
        const t0 = performance.now();
        engine.render(def, i % 2 ? 'fr-CA' : 'en', vars);
        times.push(performance.now() - t0);
      }
      times.sort((x, y) => x - y);
      const q = (p: number): string =>
        `${((times[Math.floor(p * (times.length - 1))] ?? 0) * 1000).toFixed(1)} µs`;
      lines.push(`  ${def.name.padEnd(12)} p50 ${q(0.5)}  p99 ${q(0.99)}  max ${q(1)}`);
    }
    console.log(`template render (title + body), ${engine.stats().parses} parses:\n${lines.join('\n')}`);
    expect(engine.stats().parses).toBe(8); // title + body of: new-release en, fr; weekly en; mixed de
  });
});
