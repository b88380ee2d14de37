import { BadRequestError } from '../../core/errors/index.ts';

/** A snapshot that `restore` refused: names the offending path. The model's state is left unchanged. */
export class InvalidSnapshotError extends BadRequestError {
  constructor(message: string) {
    super(`invalid recommender snapshot: ${message}`);
    this.name = 'InvalidSnapshotError';
  }
}

export function fail(path: string, what: string): never {
  throw new InvalidSnapshotError(`${path} ${what}`);
}

export function asObject(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'must be an object');
  return v as Record<string, unknown>;
}

export function asArray(v: unknown, path: string, maxLength = Number.POSITIVE_INFINITY): unknown[] {
  if (!Array.isArray(v)) fail(path, 'must be an array');
  if (v.length > maxLength) fail(path, `has ${v.length} entries, more than the bound ${maxLength}`);
  return v;
}

export function asString(v: unknown, path: string): string {
  if (typeof v !== 'string' || v === '') fail(path, 'must be a non-empty string');
  return v;
}

export function asFinite(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'must be a finite number');
  return v;
}

/** A `[key, value]` pair. */
export function asPair(v: unknown, path: string): [unknown, unknown] {
  const a = asArray(v, path);
  if (a.length !== 2) fail(path, 'must be a [key, value] pair');
  return [a[0], a[1]];
}

export function expectHeader(s: Record<string, unknown>, kind: string, version: number): void {
  if (s['kind'] !== kind) fail('kind', `must be ${JSON.stringify(kind)}, got ${JSON.stringify(s['kind'])}`);
  if (s['version'] !== version) fail('version', `must be ${version}, got ${JSON.stringify(s['version'])}`);
}

/** Refuses a snapshot whose numbers were made with another half-life (stored log weights depend on it). */
export function expectSame(s: Record<string, unknown>, key: string, want: number): void {
  const got = asFinite(s[key], key);
  if (got !== want) fail(key, `is ${got} but this model is configured with ${want}`);
}
