/**
 * Bounds on user-supplied JSON, checked once where it enters (WebSocket frames, HTTP
 * bodies, each event of a batch). `JSON.parse` is iterative in V8 and safe at any depth,
 * but nearly everything after it is recursive (`JSON.stringify`, `structuredClone`,
 * loggers, validators): a 30 KB value nested 5,000 deep overflows the stack there, far
 * from the client that sent it. So a parsed value deeper than `MAX_JSON_DEPTH` is refused
 * as that client's bad request before anything is stored or forwarded.
 *
 * Depth counts containers: a scalar is 0, `{}` and `[]` are 1, `{"a":[1]}` is 2.
 */

export const DEFAULT_MAX_JSON_DEPTH = 32;

/**
 * True when `value` nests objects/arrays deeper than `maxDepth`. Iterative (an explicit
 * stack, never recursion), stops at the first container past the bound, and visits own
 * enumerable values only — including an own `"__proto__"` key, which `JSON.parse` creates
 * as a plain property and which `obj.__proto__` would not reach.
 */
export function exceedsJsonDepth(value: unknown, maxDepth: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (maxDepth < 1) return true;
  const stack: object[] = [value];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const v = stack.pop()!;
    const d = depths.pop()!;
    const children: unknown[] = Array.isArray(v) ? v : Object.values(v);
    for (let i = 0; i < children.length; i++) {
      const c = children[i];
      if (c !== null && typeof c === 'object') {
        if (d + 1 > maxDepth) return true;
        stack.push(c);
        depths.push(d + 1);
      }
    }
  }
  return false;
}

/** The reason given to a client whose JSON is too deep (names the setting). */
export function depthError(what: string, maxDepth: number): string {
  return `${what} nests deeper than ${maxDepth} levels (MAX_JSON_DEPTH)`;
}
