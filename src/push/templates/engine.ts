/**
 * The notification template engine (SPEC §6): Liquid (liquidjs) with strict variables and
 * filters, no file system, plain-text output; each (name, version, locale, field) parsed
 * once. Synchronous: rendering is CPU work, one call per recipient locale.
 */
import type { Liquid, Template, Value } from 'liquidjs';
import { boundedCache, type LRUCache } from '../../core/cache/index.ts';
import { lazyModule } from '../../core/modules/index.ts';
import {
  InvalidTemplateError,
  MissingVariableError,
  TemplateError,
  TemplateRenderError,
  TemplateSyntaxError,
  type TemplateWhere,
} from './errors.ts';
import { canonicalLocale, resolveLocale } from './locale.ts';
import { compilePlural, formatPlural } from './plural.ts';
import {
  TEMPLATE_FIELDS,
  type RenderedNotification,
  type TemplateDefinition,
  type TemplateField,
  type TemplateVariables,
} from './types.ts';

export interface TemplateEngineOptions {
  /** Compiled (name, version, locale, field) entries kept, least recently used evicted. Default 10,000. */
  maxCompiled?: number;
  /** Longest title or body source accepted, in characters. Default 4,000. */
  maxSourceLength?: number;
  /** Longest rendered title or body, in characters. Default 4,000. */
  maxOutputLength?: number;
  /**
   * Liquid's memory budget per field render (ranges, string and array growth): stops
   * `{% for i in (1..100000000) %}` deterministically. Default 1,000,000.
   */
  maxMemory?: number;
  /**
   * Wall-clock budget per field render, in ms: only a backstop for loops over large
   * variables, which the memory budget does not see; a normal render takes microseconds. Default 250.
   */
  maxRenderMs?: number;
}

export interface TemplateEngineStats {
  /** Liquid parses done (cache misses). */
  parses: number;
  /** Renders served from the compiled cache. */
  hits: number;
  /** Entries in the cache. */
  cached: number;
}

const LOCALE = Symbol('backbeat.template.locale');
/** Tags that read other templates: there are none to read (and no file system to read them from). */
const PARTIAL_TAGS = ['include', 'render', 'layout', 'block'];

interface Compiled {
  source: string;
  templates: Template[];
}

/** Liquid's stringification of an output, except that a bare object is an error, not "[object Object]". */
function plainText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map((v) => plainText(v)).join('');
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
    case 'object':
      throw new Error('an object cannot be printed: print one of its fields');
    default:
      throw new Error(`a ${typeof value} cannot be printed`);
  }
}

/** Runs a liquidjs child generator synchronously (sync children yield nothing to wait for). */
function drive<T>(gen: Generator<unknown, T>): T {
  let step = gen.next();
  while (!step.done) step = gen.next(step.value);
  return step.value;
}

/** Every filtered value in a parsed template, nested blocks included. */
function* valuesOf(templates: Template[]): Generator<Value> {
  for (const t of templates) {
    if (t.arguments) for (const arg of t.arguments()) if (arg instanceof liquidjs().Value) yield arg;
    if (t.children) yield* valuesOf(drive(t.children(false, true)));
  }
}

const firstLine = (s: string): string => s.split('\n')[0] ?? s;

/**
 * liquidjs, loaded with the first template a node checks or renders: a node that sends no
 * notification never pays for it (its module, and the ICU time-zone data its constructor
 * reads: ~10 MB of idle RSS; docs/operations.md, "Memory").
 */
const liquidjs = lazyModule<typeof import('liquidjs')>('liquidjs');

export class TemplateEngine {
  /** Created on first use (see `liquidjs`). */
  #liquidEngine: Liquid | undefined;
  /** Parsed templates, `maxCompiled` most recently used (lru-cache: O(1) eviction). */
  readonly #cache: LRUCache<string, Compiled>;
  readonly #maxSourceLength: number;
  readonly #maxOutputLength: number;
  readonly #maxMemory: number;
  readonly #maxRenderMs: number;
  #parses = 0;
  #hits = 0;

  constructor(options: TemplateEngineOptions = {}) {
    this.#cache = boundedCache(options.maxCompiled ?? 10_000);
    this.#maxSourceLength = options.maxSourceLength ?? 4_000;
    this.#maxOutputLength = options.maxOutputLength ?? 4_000;
    this.#maxMemory = options.maxMemory ?? 1_000_000;
    this.#maxRenderMs = options.maxRenderMs ?? 250;
  }

  /** The Liquid engine, created with the first template checked or rendered. */
  get #liquid(): Liquid {
    return (this.#liquidEngine ??= this.#createLiquid());
  }

  #createLiquid(): Liquid {
    const liquid = new (liquidjs().Liquid)({
      strictVariables: true,
      strictFilters: true,
      // `{% if x %}` and `{{ x | default: "…" }}` may name an absent variable: the way to
      // write an optional placeholder. Everywhere else an absent variable is an error.
      lenientIf: true,
      ownPropertyOnly: true, // no `{{ x.constructor }}`
      templates: {}, // an empty in-memory file system: liquidjs never touches the disk
      relativeReference: false,
      outputEscape: plainText, // plain text: no HTML escaping, no "[object Object]"
      timezoneOffset: 0, // the `date` filter in UTC, not in whatever zone the server runs
      parseLimit: this.#maxSourceLength * 2,
      memoryLimit: this.#maxMemory,
    });
    for (const tag of PARTIAL_TAGS) Reflect.deleteProperty(liquid.tags, tag);
    liquid.registerFilter(
      'plural',
      function (this: { context: { globals: object } }, value: unknown, pattern: unknown) {
        const locale = (this.context.globals as Record<symbol, string | undefined>)[LOCALE] ?? 'en';
        return formatPlural(locale, value, pattern);
      },
    );
    return liquid;
  }

  /**
   * Checks a definition (e.g. the body of `PUT /v1/templates/{name}`) and every locale's
   * title and body: shape, locale tags, Liquid syntax, known filters and tags, literal
   * `plural` patterns. Returns it with canonical locale keys (`fr_ca` → `fr-CA`); throws
   * `InvalidTemplateError` or `TemplateSyntaxError` naming the locale and field.
   */
  validate(input: unknown): TemplateDefinition {
    const def = this.#checkShape(input);
    for (const [locale, content] of Object.entries(def.locales)) {
      for (const field of TEMPLATE_FIELDS) {
        const where = { template: def.name, locale, field };
        const templates = this.#parse(content[field], where);
        this.#checkPlurals(templates, where);
      }
    }
    return def;
  }

  /**
   * Renders `def` for a recipient. `requested` is the locale asked for (device, else user
   * preference: `requestedLocale`); it falls back along its parents to the default.
   */
  render(
    def: TemplateDefinition,
    requested: string | null | undefined,
    variables: TemplateVariables,
  ): RenderedNotification {
    const locale = resolveLocale(def, requested);
    return {
      title: this.#renderField(def, locale, 'title', variables),
      body: this.#renderField(def, locale, 'body', variables),
      locale,
    };
  }

  /**
   * The check before a job is created: renders every locale of `def` with `variables`
   * (any of them may be some device's), so an absent placeholder, a filter refusing its
   * input or an object printed is a 400 now, not a failure per recipient later. Throws the
   * first `TemplateError`; see `problems` for all of them.
   */
  checkVariables(def: TemplateDefinition, variables: TemplateVariables): void {
    const first = this.problems(def, variables)[0];
    if (first) throw first;
  }

  /** Every locale's render failure with these variables (empty when all render). */
  problems(def: TemplateDefinition, variables: TemplateVariables): TemplateError[] {
    const out: TemplateError[] = [];
    for (const locale of Object.keys(def.locales)) {
      for (const field of TEMPLATE_FIELDS) {
        try {
          this.#renderField(def, locale, field, variables);
        } catch (err) {
          out.push(err as TemplateError);
        }
      }
    }
    return out;
  }

  /**
   * The variables each locale's title and body refer to (top-level names, sorted): what a
   * sender should provide. Static, so it also lists names used only under `{% if %}` or
   * with `| default`, which may be left out; `checkVariables` is the exact check.
   */
  referencedVariables(def: TemplateDefinition): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [locale, content] of Object.entries(def.locales)) {
      const names = new Set<string>();
      for (const field of TEMPLATE_FIELDS) {
        const compiled = this.#compiled(def, locale, field, content[field]);
        for (const name of this.#liquid.globalVariablesSync(compiled.templates)) names.add(name);
      }
      out[locale] = [...names].sort();
    }
    return out;
  }

  stats(): TemplateEngineStats {
    return { parses: this.#parses, hits: this.#hits, cached: this.#cache.size };
  }

  #renderField(
    def: TemplateDefinition,
    locale: string,
    field: TemplateField,
    variables: TemplateVariables,
  ): string {
    const where: TemplateWhere = { template: def.name, locale, field };
    const content = def.locales[locale];
    if (!content) throw new InvalidTemplateError(where, 'no such locale in the template');
    const compiled = this.#compiled(def, locale, field, content[field]);
    const scope = scopeOf(variables, where);
    let text: string;
    try {
      text = this.#liquid.renderSync(compiled.templates, scope, {
        globals: { [LOCALE]: locale },
        memoryLimit: this.#maxMemory,
        renderLimit: this.#maxRenderMs,
      }) as string;
    } catch (err) {
      throw this.#renderError(err, where);
    }
    if (text.length > this.#maxOutputLength) {
      throw new TemplateRenderError(where, `renders longer than ${this.#maxOutputLength} characters`);
    }
    return text;
  }

  #compiled(def: TemplateDefinition, locale: string, field: TemplateField, source: string): Compiled {
    const key = `${def.name}\u0000${String(def.version)}\u0000${locale}\u0000${field}`;
    const hit = this.#cache.get(key);
    // Same key, other text: the store reused a version. Never serve stale text; re-parse.
    if (hit && hit.source === source) {
      this.#hits++;
      return hit; // get() made it the most recently used
    }
    const compiled = { source, templates: this.#parse(source, { template: def.name, locale, field }) };
    this.#cache.set(key, compiled);
    return compiled;
  }

  #parse(source: string, where: TemplateWhere): Template[] {
    if (typeof source !== 'string') throw new InvalidTemplateError(where, 'must be a string');
    if (source.length > this.#maxSourceLength) {
      throw new InvalidTemplateError(where, `longer than ${this.#maxSourceLength} characters`);
    }
    this.#parses++;
    try {
      return this.#liquid.parse(source);
    } catch (err) {
      const token = err instanceof liquidjs().LiquidError ? err.token : undefined;
      const [line, col] = token?.getPosition() ?? [];
      const message = err instanceof Error ? err.message : String(err);
      // liquidjs says "tag "include" not found": say why.
      const why = /tag "(include|render|layout|block)" not found/.test(message)
        ? `${message.split(',')[0]} (templates cannot include other templates)`
        : firstLine(message);
      throw new TemplateSyntaxError(where, `does not parse: ${why}`, { line, col }, err);
    }
  }

  #checkPlurals(templates: Template[], where: TemplateWhere): void {
    for (const value of valuesOf(templates)) {
      for (const filter of value.filters) {
        if (filter.name !== 'plural') continue;
        const arg = filter.args[0];
        // A literal pattern is checked now; one from a variable only when rendered.
        if (arg && !Array.isArray(arg) && typeof (arg as { content?: unknown }).content === 'string') {
          const pattern = (arg as { content: string }).content;
          try {
            compilePlural(where.locale ?? 'en', pattern);
          } catch (err) {
            throw new TemplateSyntaxError(
              where,
              `bad plural pattern ${JSON.stringify(pattern)}: ${firstLine((err as Error).message)}`,
              {},
              err,
            );
          }
        } else if (!arg) {
          throw new TemplateSyntaxError(
            where,
            'plural needs a pattern such as "one {# track} other {# tracks}"',
            {},
          );
        }
      }
    }
  }

  #renderError(err: unknown, where: TemplateWhere): TemplateError {
    if (err instanceof TemplateError) return err;
    const original = (err as { originalError?: unknown }).originalError;
    const variable = (original as { variableName?: unknown } | undefined)?.variableName;
    const message = err instanceof Error ? err.message : String(err);
    if (typeof variable === 'string') return new MissingVariableError(where, variable, err);
    const named = /^undefined variable: ([^,]+)/.exec(message);
    if (named?.[1]) return new MissingVariableError(where, named[1], err);
    const cause = original instanceof Error ? original.message : message;
    return new TemplateRenderError(where, `does not render: ${firstLine(cause).split(', line:')[0]}`, err);
  }

  #checkShape(input: unknown): TemplateDefinition {
    const obj = (input ?? {}) as Partial<Record<keyof TemplateDefinition, unknown>>;
    const name = typeof obj.name === 'string' && obj.name.length > 0 ? obj.name : undefined;
    const where = { template: name ?? '?' };
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      throw new InvalidTemplateError(where, 'must be an object');
    if (name === undefined) throw new InvalidTemplateError(where, 'needs a name');
    const version = obj.version ?? 0;
    if (typeof version !== 'number' && typeof version !== 'string')
      throw new InvalidTemplateError(where, 'version must be a number or string');
    const locales = obj.locales;
    if (
      typeof locales !== 'object' ||
      locales === null ||
      Array.isArray(locales) ||
      Object.keys(locales).length === 0
    ) {
      throw new InvalidTemplateError(where, 'locales must be an object with at least one locale');
    }
    const out: Record<string, { title: string; body: string }> = {};
    for (const [key, content] of Object.entries(locales as Record<string, unknown>)) {
      const locale = canonicalLocale(key);
      if (locale === undefined)
        throw new InvalidTemplateError(
          { ...where, locale: key },
          'not a locale tag (BCP 47, e.g. "fr" or "fr-CA")',
        );
      if (locale in out) throw new InvalidTemplateError({ ...where, locale }, 'locale given twice');
      if (typeof content !== 'object' || content === null)
        throw new InvalidTemplateError({ ...where, locale }, 'must be {"title","body"}');
      const c = content as Record<string, unknown>;
      for (const field of TEMPLATE_FIELDS) {
        if (typeof c[field] !== 'string')
          throw new InvalidTemplateError({ ...where, locale, field }, 'must be a string');
      }
      out[locale] = { title: c['title'] as string, body: c['body'] as string };
    }
    const defaultLocale = canonicalLocale(obj.defaultLocale);
    if (defaultLocale === undefined || !(defaultLocale in out)) {
      throw new InvalidTemplateError(
        where,
        `defaultLocale ${JSON.stringify(obj.defaultLocale)} must be one of the locales`,
      );
    }
    return { name, version, defaultLocale, locales: out };
  }
}

/** The render scope: the variables minus top-level nulls (null is "no value", like absent). */
function scopeOf(variables: TemplateVariables, where: TemplateWhere): Record<string, unknown> {
  if (typeof variables !== 'object' || variables === null || Array.isArray(variables)) {
    throw new TemplateRenderError(where, 'variables must be an object');
  }
  // fromEntries defines own properties, so a key such as "__proto__" is just a name.
  return Object.fromEntries(Object.entries(variables).filter(([, v]) => v !== null && v !== undefined));
}

let shared: TemplateEngine | undefined;

/** `TemplateEngine#validate` on a shared engine: for callers that only check definitions. */
export function validateTemplate(input: unknown): TemplateDefinition {
  shared ??= new TemplateEngine();
  return shared.validate(input);
}
