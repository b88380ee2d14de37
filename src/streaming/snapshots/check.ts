/**
 * Shape checks for handler snapshots: `restore(state)` validates everything it reads
 * before it changes anything, and throws `InvalidHandlerSnapshotError` naming the path of
 * the first bad value.
 */
export class InvalidHandlerSnapshotError extends Error {
  constructor(message: string) {
    super(`invalid handler snapshot: ${message}`);
    this.name = 'InvalidHandlerSnapshotError';
  }
}

export function bad(path: string, what: string): never {
  throw new InvalidHandlerSnapshotError(`${path}: ${what}`);
}

export function obj(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'expected an object');
  return v as Record<string, unknown>;
}

export function arr(v: unknown, path: string, max = Number.MAX_SAFE_INTEGER): unknown[] {
  if (!Array.isArray(v)) bad(path, 'expected an array');
  if (v.length > max) bad(path, `more than ${max} items`);
  return v;
}

export function str(v: unknown, path: string): string {
  if (typeof v !== 'string') bad(path, 'expected a string');
  return v;
}

/** A number that is not NaN (±Infinity allowed: sentinels like "never"). */
export function num(v: unknown, path: string): number {
  if (typeof v !== 'number' || Number.isNaN(v)) bad(path, 'expected a number');
  return v;
}

export function finite(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(path, 'expected a finite number');
  return v;
}

export function int(
  v: unknown,
  path: string,
  min = Number.MIN_SAFE_INTEGER,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
    bad(path, `expected an integer in [${min}, ${max}]`);
  return v;
}

export function typed<T extends ArrayBufferView>(
  v: unknown,
  ctor: abstract new (...args: never[]) => T,
  path: string,
  length?: number,
): T {
  if (!(v instanceof ctor)) bad(path, `expected a ${ctor.name}`);
  if (length !== undefined && (v as unknown as { length: number }).length !== length)
    bad(path, `expected ${length} items, got ${(v as unknown as { length: number }).length}`);
  return v;
}

/** The versioned envelope every built-in handler snapshot has: `{ kind, version, … }`. */
export function header(v: unknown, kind: string, version: number): Record<string, unknown> {
  const o = obj(v, kind);
  if (o['kind'] !== kind) bad(kind, `snapshot is of ${JSON.stringify(o['kind'])}, not ${kind}`);
  if (o['version'] !== version) bad(kind, `version ${JSON.stringify(o['version'])} is not ${version}`);
  return o;
}
