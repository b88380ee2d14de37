import type { ValidateFunction } from 'ajv';
import { BadRequestError } from '../../core/errors/index.ts';
import { eventAjv } from '../../core/json/index.ts';
import { backwardProblems, type JsonSchema } from './compat.ts';

/** Turns data of the previous version into data of this version. */
export type Upgrade = (data: Record<string, unknown>) => Record<string, unknown>;

interface Version {
  v: number;
  schema: JsonSchema;
  validate: ValidateFunction;
  /** From v − 1 to v; defaults fill what the new version added. */
  upgrade: Upgrade;
}

export class IncompatibleSchemaError extends BadRequestError {
  readonly problems: string[];
  constructor(type: string, v: number, problems: string[]) {
    super(`${type} v${v} would break readers of v${v - 1}: ${problems.join('; ')}`);
    this.name = 'IncompatibleSchemaError';
    this.problems = problems;
  }
}

/** Fills properties the schema declares with a `default` that the data lacks (one level; nested objects recurse). */
export function fillDefaults(schema: JsonSchema, data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...data };
  for (const [name, s] of Object.entries(schema.properties ?? {})) {
    if (out[name] === undefined && s.default !== undefined) out[name] = structuredClone(s.default);
    else if (s.properties && typeof out[name] === 'object' && out[name] !== null)
      out[name] = fillDefaults(s, out[name] as Record<string, unknown>);
  }
  return out;
}

/**
 * Event types and their versions. Registering version n + 1 is refused when it would
 * break readers of version n (BACKWARD). Reading data of any registered version upgrades
 * it to the newest: each step applies that version's upgrade (default: fill defaults).
 */
export class SchemaRegistry {
  readonly #types = new Map<string, Version[]>();

  register(type: string, schema: JsonSchema, upgrade?: Upgrade): number {
    const versions = this.#types.get(type) ?? [];
    const v = versions.length + 1;
    const prev = versions.at(-1);
    if (prev) {
      const problems = backwardProblems(prev.schema, schema);
      if (problems.length) throw new IncompatibleSchemaError(type, v, problems);
    }
    const validate = eventAjv.compile(schema);
    versions.push({ v, schema, validate, upgrade: upgrade ?? ((d) => fillDefaults(schema, d)) });
    this.#types.set(type, versions);
    return v;
  }

  has(type: string): boolean {
    return this.#types.has(type);
  }

  latest(type: string): number {
    return this.#types.get(type)?.length ?? 0;
  }

  get types(): string[] {
    return [...this.#types.keys()];
  }

  /**
   * Validates `data` as `type` v`v` (default: newest) and returns it upgraded to the
   * newest version. Throws BadRequestError naming each invalid field.
   */
  read(type: string, data: unknown, v?: number): { v: number; data: Record<string, unknown> } {
    const versions = this.#types.get(type);
    if (!versions) throw new BadRequestError(`unknown event type ${JSON.stringify(type)}`);
    const at = v ?? versions.length;
    const version = versions[at - 1];
    if (!version || !Number.isInteger(at))
      throw new BadRequestError(`${type} has no version ${JSON.stringify(v)} (1..${versions.length})`);
    if (!version.validate(data)) {
      const why = (version.validate.errors ?? []).map((e) => {
        const field = e.instancePath ? `data${e.instancePath.replaceAll('/', '.')}` : 'data';
        const missing = (e.params as { missingProperty?: string }).missingProperty;
        return missing ? `${field}.${missing} is required` : `${field} ${e.message ?? 'is invalid'}`;
      });
      throw new BadRequestError(`${type} v${at}: ${why.join('; ')}`);
    }
    let out = data as Record<string, unknown>;
    for (const next of versions.slice(at)) out = next.upgrade(out);
    return { v: versions.length, data: out };
  }
}
