/**
 * Locale resolution (SPEC §6): the locale asked for is the device's own, else the user's
 * preference, else the template's default; a regional locale falls back to its parents
 * (`fr-CA` → `fr`, `zh-Hant-TW` → `zh-Hant` → `zh`), then to the default. Matching ignores
 * case and accepts `_` for `-` (`fr_ca` finds `fr-CA`). Note the order: a device locale
 * the template lacks falls back along its own chain to the default, it does not switch to
 * the user's preference (the device's locale is what its user reads on it).
 */

/**
 * Tags seen are few (a template's locales, devices' locales): `Intl.Locale` costs more than
 * the rest of a render, so answers are memoized (bounded; cleared when full).
 */
const CANONICAL = new Map<string, string | null>();
const CANONICAL_MAX = 10_000;

/** The canonical form of a BCP 47 tag without extensions (`fr_ca` → `fr-CA`), or undefined. */
export function canonicalLocale(tag: unknown): string | undefined {
  if (typeof tag !== 'string' || tag.length === 0 || tag.length > 64) return undefined;
  const hit = CANONICAL.get(tag);
  if (hit !== undefined) return hit ?? undefined;
  let out: string | null;
  try {
    out = new Intl.Locale(tag.replaceAll('_', '-')).baseName;
  } catch {
    out = null;
  }
  if (CANONICAL.size >= CANONICAL_MAX) CANONICAL.clear();
  CANONICAL.set(tag, out);
  return out ?? undefined;
}

/** The tag and its parents, most specific first: `zh-Hant-TW` → [`zh-Hant-TW`, `zh-Hant`, `zh`]. */
export function localeChain(tag: string): string[] {
  const canonical = canonicalLocale(tag);
  if (canonical === undefined) return [];
  const parts = canonical.split('-');
  const chain: string[] = [];
  for (let n = parts.length; n >= 1; n--) chain.push(parts.slice(0, n).join('-'));
  return chain;
}

/** The locale asked for: the first of device, user preference that is a valid tag. */
export function requestedLocale(
  deviceLocale?: string | null,
  userLocale?: string | null,
): string | undefined {
  return canonicalLocale(deviceLocale) ?? canonicalLocale(userLocale);
}

/**
 * The key of `locales` to use for `requested` (already device-else-user; undefined or an
 * invalid tag means "nothing asked"): the first of its chain that the template has, else
 * `defaultLocale`.
 */
export function resolveLocale(
  def: { defaultLocale: string; locales: Record<string, unknown> },
  requested: string | null | undefined,
): string {
  if (requested) {
    const byLower = new Map<string, string>();
    for (const key of Object.keys(def.locales)) {
      const c = canonicalLocale(key);
      if (c !== undefined) byLower.set(c.toLowerCase(), key);
    }
    for (const candidate of localeChain(requested)) {
      const key = byLower.get(candidate.toLowerCase());
      if (key !== undefined) return key;
    }
  }
  return def.defaultLocale;
}
