import { BadRequestError } from '../../core/errors/index.ts';

export interface ExperimentVariant {
  name: string;
  weight: number;
  /** The template this variant sends. */
  template: string;
}

/** The `experiment` of a notification (SPEC §6). */
export interface ExperimentDefinition {
  name: string;
  variants: ExperimentVariant[];
}

/** The experiment definition is not usable; `problems` lists every reason. */
export class InvalidExperimentError extends BadRequestError {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid experiment: ${problems.join('; ')}`, { details: { problems } });
    this.name = 'InvalidExperimentError';
    this.problems = problems;
  }
}

export const MAX_VARIANTS = 20;
const MAX_NAME = 200;

const isName = (v: unknown): v is string =>
  typeof v === 'string' && v.trim().length > 0 && v.length <= MAX_NAME;

/**
 * Checks an experiment definition from a request: a name; 2–20 variants; each with a
 * unique name, a positive finite weight and a template name. Returns it typed (only the
 * known fields); throws `InvalidExperimentError` with every problem found.
 */
export function validateExperiment(input: unknown): ExperimentDefinition {
  const problems: string[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new InvalidExperimentError(['must be an object {"name","variants"}']);
  const obj = input as Record<string, unknown>;
  if (!isName(obj['name']))
    problems.push(`name must be a non-empty string of at most ${MAX_NAME} characters`);
  const raw = obj['variants'];
  if (!Array.isArray(raw)) throw new InvalidExperimentError([...problems, 'variants must be an array']);
  if (raw.length < 2) problems.push('an experiment needs at least 2 variants');
  if (raw.length > MAX_VARIANTS) problems.push(`at most ${MAX_VARIANTS} variants`);
  const seen = new Set<string>();
  const variants: ExperimentVariant[] = [];
  raw.forEach((v: unknown, i: number) => {
    const at = `variants[${i}]`;
    if (typeof v !== 'object' || v === null) {
      problems.push(`${at} must be an object {"name","weight","template"}`);
      return;
    }
    const { name, weight, template } = v as Record<string, unknown>;
    if (!isName(name)) problems.push(`${at}.name must be a non-empty string`);
    else if (seen.has(name)) problems.push(`${at}.name ${JSON.stringify(name)} is used twice`);
    else seen.add(name);
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0)
      problems.push(`${at}.weight must be a positive number`);
    if (!isName(template)) problems.push(`${at}.template must name a template`);
    variants.push({ name: name as string, weight: weight as number, template: template as string });
  });
  if (problems.length > 0) throw new InvalidExperimentError(problems);
  return { name: obj['name'] as string, variants };
}
