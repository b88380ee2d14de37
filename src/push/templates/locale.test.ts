import { describe, expect, it } from 'vitest';
import { canonicalLocale, localeChain, requestedLocale, resolveLocale } from './index.ts';

const def = {
  defaultLocale: 'en',
  locales: { en: {}, fr: {}, 'pt-BR': {}, 'zh-Hant': {} },
};

describe('locale resolution (SPEC §6)', () => {
  it('canonicalizes tags and drops extensions; garbage is no locale', () => {
    expect(canonicalLocale('fr_ca')).toBe('fr-CA');
    expect(canonicalLocale('EN-us')).toBe('en-US');
    expect(canonicalLocale('de-DE-u-co-phonebk')).toBe('de-DE');
    expect(canonicalLocale('')).toBeUndefined();
    expect(canonicalLocale('not a locale')).toBeUndefined();
    expect(canonicalLocale(42)).toBeUndefined();
  });

  it('lists a tag and its parents, most specific first', () => {
    expect(localeChain('zh-Hant-TW')).toEqual(['zh-Hant-TW', 'zh-Hant', 'zh']);
    expect(localeChain('fr-CA')).toEqual(['fr-CA', 'fr']);
    expect(localeChain('??')).toEqual([]);
  });

  it('asks for the device locale, else the user preference', () => {
    expect(requestedLocale('fr-CA', 'de')).toBe('fr-CA');
    expect(requestedLocale(undefined, 'de')).toBe('de');
    expect(requestedLocale(null, null)).toBeUndefined();
    expect(requestedLocale('bogus tag!', 'de')).toBe('de');
  });

  it('fr-CA falls back to fr, then to the default', () => {
    expect(resolveLocale(def, 'fr-CA')).toBe('fr');
    expect(resolveLocale(def, 'fr')).toBe('fr');
    expect(resolveLocale({ defaultLocale: 'en', locales: { en: {} } }, 'fr-CA')).toBe('en');
  });

  it('matches exact regions and scripts, ignoring case and underscores', () => {
    expect(resolveLocale(def, 'pt_br')).toBe('pt-BR');
    expect(resolveLocale(def, 'pt-PT')).toBe('en'); // no `pt` parent in the template
    expect(resolveLocale(def, 'zh-Hant-HK')).toBe('zh-Hant');
    expect(resolveLocale(def, 'zh-Hans-CN')).toBe('en');
  });

  it('no locale asked (or an invalid one) → the default', () => {
    expect(resolveLocale(def, undefined)).toBe('en');
    expect(resolveLocale(def, '')).toBe('en');
    expect(resolveLocale(def, '!!')).toBe('en');
  });

  it('device → user → default, composed', () => {
    const pick = (device?: string, user?: string): string =>
      resolveLocale(def, requestedLocale(device, user));
    expect(pick('fr-CA', 'pt-BR')).toBe('fr');
    expect(pick(undefined, 'pt-BR')).toBe('pt-BR');
    expect(pick(undefined, undefined)).toBe('en');
    // The device's own locale decides even when the template lacks it (it falls back to the default).
    expect(pick('de-DE', 'fr')).toBe('en');
  });
});
