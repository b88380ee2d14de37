/** Notification templates (#9): Liquid with strict variables, locale fallback, ICU plurals; pure. */
export {
  TemplateEngine,
  validateTemplate,
  type TemplateEngineOptions,
  type TemplateEngineStats,
} from './engine.ts';
export {
  InvalidTemplateError,
  MissingVariableError,
  TemplateError,
  TemplateRenderError,
  TemplateSyntaxError,
  type TemplateWhere,
} from './errors.ts';
export { canonicalLocale, localeChain, requestedLocale, resolveLocale } from './locale.ts';
export { formatPlural } from './plural.ts';
export {
  TEMPLATE_FIELDS,
  type LocaleContent,
  type RenderedNotification,
  type TemplateDefinition,
  type TemplateField,
  type TemplateVariables,
} from './types.ts';
