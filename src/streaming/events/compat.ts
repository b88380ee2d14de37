/**
 * Schema evolution rules (Confluent's BACKWARD mode, for the JSON Schema subset our
 * event schemas use: objects of typed properties, `required`, `default`, `enum`): a new
 * version must be able to read data written with the previous one.
 * - a new required property needs a `default` (old data does not have it);
 * - an existing property may not change type (widening integer → number is allowed);
 * - an enum may only grow (old data may hold any old value);
 * - an optional property may not become required without a default;
 * - nested objects are checked recursively.
 */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  default?: unknown;
  enum?: unknown[];
  items?: JsonSchema;
  [k: string]: unknown;
}

const types = (s: JsonSchema): string[] =>
  s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];

/** Problems that make `next` unable to read data written with `prev`; empty when compatible. */
export function backwardProblems(prev: JsonSchema, next: JsonSchema, path = ''): string[] {
  const out: string[] = [];
  const pt = types(prev);
  const nt = types(next);
  if (pt.length && nt.length) {
    const widened = (t: string) => nt.includes(t) || (t === 'integer' && nt.includes('number'));
    const lost = pt.filter((t) => !widened(t));
    if (lost.length)
      out.push(
        `${path || 'value'}: type ${JSON.stringify(prev.type)} changed to ${JSON.stringify(next.type)}`,
      );
  }
  if (prev.enum && next.enum) {
    const dropped = prev.enum.filter((v) => !next.enum!.some((n) => JSON.stringify(n) === JSON.stringify(v)));
    if (dropped.length) out.push(`${path || 'value'}: enum values removed ${JSON.stringify(dropped)}`);
  } else if (!prev.enum && next.enum) {
    out.push(`${path || 'value'}: restricted to an enum`);
  }
  const pp = prev.properties ?? {};
  const np = next.properties ?? {};
  const prevRequired = new Set(prev.required ?? []);
  for (const name of next.required ?? []) {
    const field = path ? `${path}.${name}` : name;
    if (!prevRequired.has(name) && np[name]?.default === undefined) {
      out.push(
        name in pp
          ? `${field}: became required without a default`
          : `${field}: new required field without a default`,
      );
    }
  }
  for (const [name, ns] of Object.entries(np)) {
    const ps = pp[name];
    if (ps) out.push(...backwardProblems(ps, ns, path ? `${path}.${name}` : name));
  }
  if (prev.items && next.items) out.push(...backwardProblems(prev.items, next.items, `${path || 'value'}[]`));
  return out;
}
