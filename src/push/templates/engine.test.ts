import { describe, expect, it } from 'vitest';
import {
  InvalidTemplateError,
  MissingVariableError,
  TemplateEngine,
  TemplateError,
  TemplateRenderError,
  TemplateSyntaxError,
  validateTemplate,
  type TemplateDefinition,
} from './index.ts';

const release: TemplateDefinition = {
  name: 'new-release',
  version: 1,
  defaultLocale: 'en',
  locales: {
    en: {
      title: 'New from {{ artist }}',
      body: '{{ count | plural: "one {# new track} other {# new tracks}" }} on {{ album }}',
    },
    fr: {
      title: 'Nouveauté : {{ artist }}',
      body: '{{ count | plural: "one {# nouveau titre} other {# nouveaux titres}" }} sur {{ album }}',
    },
  },
};
const vars = { artist: 'Daft Punk', count: 3, album: 'Discovery' };

/** The error `fn` throws (fails the test if it does not throw). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

const withLocale = (
  title: string,
  body = '',
  extra: Partial<TemplateDefinition> = {},
): TemplateDefinition => ({
  name: 't',
  version: 1,
  defaultLocale: 'en',
  locales: { en: { title: 'ok', body: 'ok' }, de: { title, body } },
  ...extra,
});

describe('validateTemplate', () => {
  it('accepts a good definition and canonicalizes locale keys', () => {
    const def = validateTemplate({
      ...release,
      locales: { ...release.locales, fr_ca: { title: 'x', body: 'y' } },
    });
    expect(Object.keys(def.locales)).toEqual(['en', 'fr', 'fr-CA']);
  });

  it.each([
    ['{{ artist', /not closed/],
    ['{% if a %}never closed', /not closed/],
    ['{{ a | no_such_filter }}', /undefined filter: no_such_filter/],
    ['{% nosuchtag %}', /tag "nosuchtag" not found/],
    ['{% include "package.json" %}', /cannot include other templates/],
    ['{% render "x" %}', /cannot include other templates/],
    ['{% layout "x" %}', /cannot include other templates/],
  ])('refuses %s, naming the locale and field', (source, why) => {
    const err = thrown(() => validateTemplate(withLocale('fine', source)));
    expect(err).toBeInstanceOf(TemplateSyntaxError);
    const e = err as TemplateSyntaxError;
    expect(e.message).toMatch(why);
    expect(e.message).toContain('(de, body)');
    expect(e).toMatchObject({ locale: 'de', field: 'body', template: 't', httpStatus: 400 });
  });

  it('checks literal plural patterns at validation', () => {
    for (const bad of [
      '{{ n | plural: "one {# x}" }}',
      '{{ n | plural: "one {# x} other {y" }}',
      '{{ n | plural }}',
    ]) {
      expect(thrown(() => validateTemplate(withLocale(bad)))).toBeInstanceOf(TemplateSyntaxError);
    }
    // Nested in blocks too.
    const nested =
      '{% if on %}{% for t in list %}{{ n | plural: "few {x} other {y}" }}{% endfor %}{% endif %}';
    expect((thrown(() => validateTemplate(withLocale(nested))) as Error).message).toMatch(
      /bad plural pattern/,
    );
    // `few` is a plural category in Polish, not in English.
    const pl = {
      ...withLocale('x'),
      locales: { en: { title: 'a', body: 'b' }, pl: { title: nested, body: '' } },
    };
    expect(validateTemplate(pl).locales.pl?.title).toBe(nested);
  });

  it.each([
    [null, /must be an object/],
    [{ version: 1, defaultLocale: 'en', locales: { en: { title: '', body: '' } } }, /needs a name/],
    [{ name: 't', defaultLocale: 'en', locales: {} }, /at least one locale/],
    [
      { name: 't', defaultLocale: 'de', locales: { en: { title: '', body: '' } } },
      /defaultLocale "de" must be one of/,
    ],
    [
      { name: 't', defaultLocale: 'en', locales: { en: { title: 1, body: '' } } },
      /\(en, title\): must be a string/,
    ],
    [{ name: 't', defaultLocale: 'en', locales: { en: { title: '' } } }, /\(en, body\): must be a string/],
    [
      { name: 't', defaultLocale: 'en', locales: { 'n*t a tag': { title: '', body: '' } } },
      /not a locale tag/,
    ],
    [
      {
        name: 't',
        defaultLocale: 'en',
        locales: { en: { title: '', body: '' }, EN: { title: '', body: '' } },
      },
      /given twice/,
    ],
    [
      { name: 't', defaultLocale: 'en', locales: { en: { title: 'x'.repeat(4001), body: '' } } },
      /longer than 4000/,
    ],
  ])('refuses a malformed definition %#', (input, why) => {
    const err = thrown(() => validateTemplate(input));
    expect(err).toBeInstanceOf(InvalidTemplateError);
    expect((err as Error).message).toMatch(why);
  });
});

describe('render', () => {
  const engine = new TemplateEngine();

  it('renders title and body in the resolved locale', () => {
    expect(engine.render(release, 'fr-CA', vars)).toEqual({
      title: 'Nouveauté : Daft Punk',
      body: '3 nouveaux titres sur Discovery',
      locale: 'fr',
    });
    expect(engine.render(release, 'ja', { ...vars, count: 1 })).toEqual({
      title: 'New from Daft Punk',
      body: '1 new track on Discovery',
      locale: 'en',
    });
  });

  it('plural follows the locale rules (French 0 and 1.5 are singular; English 0 is plural)', () => {
    expect(engine.render(release, 'fr', { ...vars, count: 0 }).body).toBe('0 nouveau titre sur Discovery');
    expect(engine.render(release, 'fr', { ...vars, count: 1.5 }).body).toBe(
      '1,5 nouveau titre sur Discovery',
    );
    expect(engine.render(release, 'en', { ...vars, count: 0 }).body).toBe('0 new tracks on Discovery');
    expect(engine.render(release, 'en', { ...vars, count: '2' }).body).toBe('2 new tracks on Discovery');
    const err = thrown(() => engine.render(release, 'en', { ...vars, count: 'many' }));
    expect(err).toBeInstanceOf(TemplateRenderError);
    expect((err as Error).message).toMatch(/plural expects a number/);
  });

  it('a placeholder without a value is an error naming it (absent or null)', () => {
    for (const v of [
      { count: 1, album: 'A' },
      { artist: null, count: 1, album: 'A' },
    ]) {
      const err = thrown(() => engine.render(release, 'fr', v));
      expect(err).toBeInstanceOf(MissingVariableError);
      expect(err).toMatchObject({ variable: 'artist', locale: 'fr', field: 'title', httpStatus: 400 });
      expect((err as Error).message).toBe(
        'template "new-release" (fr, title): placeholder "artist" has no value',
      );
    }
    const nested = withLocale('Hi {{ user.name }}');
    expect(thrown(() => engine.render(nested, 'de', { user: { id: 1 } }))).toMatchObject({
      variable: 'user.name',
    });
  });

  it('optional placeholders: under {% if %} or with | default', () => {
    const def = withLocale(
      '{{ artist }}{% if featuring %} feat. {{ featuring }}{% endif %}',
      'Hi {{ name | default: "there" }}',
    );
    expect(engine.render(def, 'de', { artist: 'A' })).toMatchObject({ title: 'A', body: 'Hi there' });
    expect(engine.render(def, 'de', { artist: 'A', featuring: 'B', name: 'Kim' })).toMatchObject({
      title: 'A feat. B',
      body: 'Hi Kim',
    });
  });

  it('outputs plain text: no HTML escaping; numbers and booleans as text; arrays joined; objects refused', () => {
    const def = withLocale('{{ a }} {{ n }} {{ b }} {{ list | join: ", " }}', '{{ o }}');
    const r = engine.render(
      { ...def, locales: { ...def.locales, de: { title: def.locales.de!.title, body: '' } } },
      'de',
      {
        a: `<b>Rock & "Roll"</b> 'n'`,
        n: 1.5,
        b: true,
        list: ['x', 'y'],
      },
    );
    expect(r.title).toBe(`<b>Rock & "Roll"</b> 'n' 1.5 true x, y`);
    const err = thrown(() => engine.render(def, 'de', { a: 1, n: 1, b: 1, list: [], o: { x: 1 } }));
    expect(err).toBeInstanceOf(TemplateRenderError);
    expect((err as Error).message).toMatch(/\(de, body\).*object cannot be printed/);
  });

  it('does not reach prototypes or the file system', () => {
    const proto = withLocale('{{ x.constructor }}{{ x.__proto__ }}');
    expect(thrown(() => engine.render(proto, 'de', { x: {} }))).toBeInstanceOf(MissingVariableError);
    expect(
      engine.render(
        withLocale('{{ __proto__ }}'),
        'de',
        JSON.parse('{"__proto__":"p"}') as Record<string, unknown>,
      ).title,
    ).toBe('p');
  });

  it('the date filter is in UTC whatever the server zone', () => {
    expect(
      engine.render(withLocale('{{ t | date: "%H:%M" }}'), 'de', { t: '2025-01-01T23:30:00Z' }).title,
    ).toBe('23:30');
  });

  it('stops runaway templates with a typed error', () => {
    const loop = withLocale('{% for i in (1..100000000) %}x{% endfor %}');
    expect(thrown(() => engine.render(loop, 'de', {}))).toBeInstanceOf(TemplateRenderError);
    const long = withLocale('{% for i in (1..5000) %}x{% endfor %}');
    expect((thrown(() => engine.render(long, 'de', {})) as Error).message).toMatch(/longer than 4000/);
  });
});

describe('compiled-template cache', () => {
  it('parses each (name, version, locale, field) once', () => {
    const engine = new TemplateEngine();
    for (let i = 0; i < 500; i++) {
      engine.render(release, i % 2 ? 'fr-CA' : 'en-GB', { ...vars, count: i });
    }
    expect(engine.stats()).toEqual({ parses: 4, hits: 996, cached: 4 });
    // A new version is new text: parsed again; the old entries stay until evicted.
    engine.render({ ...release, version: 2 }, 'en', vars);
    expect(engine.stats().parses).toBe(6);
  });

  it('never serves stale text when a version is reused with other text', () => {
    const engine = new TemplateEngine();
    engine.render(release, 'en', vars);
    const edited = {
      ...release,
      locales: { ...release.locales, en: { title: 'Out now: {{ artist }}', body: 'b' } },
    };
    expect(engine.render(edited, 'en', vars).title).toBe('Out now: Daft Punk');
  });

  it('is bounded (least recently used evicted)', () => {
    const engine = new TemplateEngine({ maxCompiled: 10 });
    for (let v = 0; v < 20; v++) engine.render({ ...release, version: v }, 'en', vars);
    expect(engine.stats().cached).toBe(10);
    engine.render({ ...release, version: 19 }, 'en', vars); // still cached
    expect(engine.stats().parses).toBe(40);
    engine.render({ ...release, version: 0 }, 'en', vars); // evicted long ago
    expect(engine.stats().parses).toBe(42);
  });
});

describe('before a job is created', () => {
  const engine = new TemplateEngine();
  const def: TemplateDefinition = {
    ...release,
    locales: { ...release.locales, de: { title: 'Neu von {{ artist }}', body: '{{ tracks_de }} Titel' } },
  };

  it('checkVariables renders every locale: a variable only German needs is caught', () => {
    expect(engine.problems(def, { ...vars, tracks_de: 3 })).toEqual([]);
    const err = thrown(() => engine.checkVariables(def, vars));
    expect(err).toBeInstanceOf(MissingVariableError);
    expect(err).toMatchObject({ locale: 'de', field: 'body', variable: 'tracks_de' });
    expect(engine.problems(def, { count: 1 }).map((e) => `${e.locale}/${e.field}`)).toEqual([
      'en/title',
      'en/body',
      'fr/title',
      'fr/body',
      'de/title',
      'de/body',
    ]);
    expect(engine.problems(def, { count: 1 }).every((e) => e instanceof TemplateError)).toBe(true);
  });

  it('referencedVariables lists what each locale refers to', () => {
    expect(engine.referencedVariables(def)).toEqual({
      en: ['album', 'artist', 'count'],
      fr: ['album', 'artist', 'count'],
      de: ['artist', 'tracks_de'],
    });
    const local = withLocale(
      '{% assign x = 1 %}{{ x }}{% for t in tracks %}{{ t.name }}{% endfor %}{{ forloop }}',
    );
    expect(engine.referencedVariables(local).de).toEqual(['forloop', 'tracks']);
  });
});
