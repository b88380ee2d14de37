/** A template's text for one locale: Liquid source of the notification's title and body. */
export interface LocaleContent {
  title: string;
  body: string;
}

export type TemplateField = keyof LocaleContent;
export const TEMPLATE_FIELDS: readonly TemplateField[] = ['title', 'body'];

/**
 * A stored template (SPEC §6, `PUT /v1/templates/{name}`). `version` changes whenever the
 * text does (the store bumps it): compiled templates are cached by (name, version,
 * locale, field).
 */
export interface TemplateDefinition {
  name: string;
  version: number | string;
  defaultLocale: string;
  locales: Record<string, LocaleContent>;
}

/** Values for the placeholders; JSON-like (strings, numbers, booleans, arrays, objects). */
export type TemplateVariables = Record<string, unknown>;

export interface RenderedNotification {
  title: string;
  body: string;
  /** The template locale that was used (after fallback), e.g. `fr` for a `fr-CA` device. */
  locale: string;
}
