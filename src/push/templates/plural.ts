/**
 * The `plural` filter: ICU plural rules through @messageformat/core, in the locale being
 * rendered. The argument is the body of an ICU `plural` (`#` is the number):
 *
 *   {{ count | plural: "one {# new track} other {# new tracks}" }}
 *   {{ count | plural: "=0 {no tracks} one {a track} other {# tracks}" }}     (exact matches)
 *   fr: {{ n | plural: "one {# titre} other {# titres}" }}  → 0 titre, 1 titre, 2 titres
 *
 * The input must be a finite number (or a numeric string). Compiled messages are cached
 * per (locale, pattern); the cache is bounded since a pattern could come from a variable.
 */
import type MessageFormatModule from '@messageformat/core';
import { lazyModule } from '../../core/modules/index.ts';

// The package's types say `export default class`, but the module is CommonJS with
// `module.exports = MessageFormat`: `require` gives the class itself. Loaded with the first
// plural compiled (a node that renders no notification never loads it).
const messageFormat = lazyModule<typeof MessageFormatModule.default>('@messageformat/core');

type Compiled = (params: Record<string, unknown>) => string;

const MAX_COMPILED = 2048;
const compiled = new Map<string, Compiled>();

/** The closest locale MessageFormat has plural rules for (`fr-CA` → `fr-CA`/`fr`; unknown → `en`). */
function pluralLocale(locale: string): string {
  try {
    return messageFormat().supportedLocalesOf([locale, locale.split('-')[0] ?? locale])[0] ?? 'en';
  } catch {
    return 'en';
  }
}

/** Compiles `{n, plural, <pattern>}` for `locale`; throws (a plain Error) when the pattern is not ICU. */
export function compilePlural(locale: string, pattern: string): Compiled {
  const key = `${locale}\u0000${pattern}`;
  const hit = compiled.get(key);
  if (hit) return hit;
  if (typeof pattern !== 'string' || pattern.trim() === '')
    throw new Error('plural needs a pattern such as "one {# track} other {# tracks}"');
  if (!/(^|\s|\})other\s*\{/.test(pattern)) throw new Error('a plural pattern needs an "other {…}" case');
  const MessageFormat = messageFormat();
  const mf = new MessageFormat<'string'>(pluralLocale(locale), { returnType: 'string', strict: false });
  let fn: Compiled;
  try {
    fn = mf.compile(`{n, plural, ${pattern}}`);
  } catch (err) {
    throw new Error(`invalid plural pattern: ${(err as Error).message}`, { cause: err });
  }
  if (compiled.size >= MAX_COMPILED) compiled.clear();
  compiled.set(key, fn);
  return fn;
}

/** Formats `value` with `pattern` in `locale`; throws a plain Error on a non-number or a bad pattern. */
export function formatPlural(locale: string, value: unknown, pattern: unknown): string {
  if (typeof pattern !== 'string')
    throw new Error('plural needs a pattern such as "one {# track} other {# tracks}"');
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && value.trim() !== ''
        ? Number(value)
        : NaN;
  if (!Number.isFinite(n))
    throw new Error(
      `plural expects a number, got ${typeof value === 'string' ? JSON.stringify(value) : typeof value}`,
    );
  return compilePlural(locale, pattern)({ n });
}
