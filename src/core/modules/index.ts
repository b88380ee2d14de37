import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A dependency loaded on first use instead of at import (synchronously: Node 24 `require`s
 * ES modules too). For the clients of engines a node may never use: an embedded node, the
 * default, needs none of the Kafka (~57 MB resident once imported), Redis (~25 MB) and
 * PostgreSQL (~11 MB) clients; measured with `node -e "await import('<pkg>')"` against a
 * bare `node` (41 MB).
 */
export function lazyModule<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(specifier) as T);
}

export { releaseStartupMemory } from './memory.ts';
