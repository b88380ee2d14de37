import { BadRequestError } from '../../core/errors/index.ts';
import type { TemplateField } from './types.ts';

/** Where in a template a problem is. */
export interface TemplateWhere {
  template: string;
  locale?: string;
  field?: TemplateField;
}

const describe = (w: TemplateWhere): string =>
  `template ${JSON.stringify(w.template)}${w.locale ? ` (${w.locale}${w.field ? `, ${w.field}` : ''})` : ''}`;

/**
 * Every failure of the template engine is one of these (a 400: the request named a bad
 * template or gave it bad variables). `details` carries template, locale, field and, per
 * subclass, the variable or the line and column.
 */
export class TemplateError extends BadRequestError {
  readonly template: string;
  readonly locale: string | undefined;
  readonly field: TemplateField | undefined;
  constructor(where: TemplateWhere, problem: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(`${describe(where)}: ${problem}`, {
      details: { template: where.template, locale: where.locale, field: where.field, ...details },
      cause,
    });
    this.name = 'TemplateError';
    this.template = where.template;
    this.locale = where.locale;
    this.field = where.field;
  }
}

/** The definition itself is malformed (no default locale, a field that is not a string, …). */
export class InvalidTemplateError extends TemplateError {
  constructor(where: TemplateWhere, problem: string) {
    super(where, problem);
    this.name = 'InvalidTemplateError';
  }
}

/** A locale's title or body does not parse as Liquid (or names an unknown filter or tag). */
export class TemplateSyntaxError extends TemplateError {
  constructor(
    where: TemplateWhere,
    problem: string,
    position: { line?: number; col?: number },
    cause?: unknown,
  ) {
    super(where, problem, position, cause);
    this.name = 'TemplateSyntaxError';
  }
}

/** A placeholder has no value: the variable is absent (or null) in the request. */
export class MissingVariableError extends TemplateError {
  readonly variable: string;
  constructor(where: TemplateWhere, variable: string, cause?: unknown) {
    super(where, `placeholder ${JSON.stringify(variable)} has no value`, { variable }, cause);
    this.name = 'MissingVariableError';
    this.variable = variable;
  }
}

/** Rendering failed otherwise: a filter refused its input, a limit was hit, an object was printed. */
export class TemplateRenderError extends TemplateError {
  constructor(where: TemplateWhere, problem: string, cause?: unknown) {
    super(where, problem, {}, cause);
    this.name = 'TemplateRenderError';
  }
}
