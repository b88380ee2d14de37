import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: string }) => void;

/**
 * Gives start-up's transient memory back, once, when a process has finished starting:
 * one memory-reducing full GC (V8's "last resort" collection, as under memory pressure).
 * Start-up (parsing and compiling every module, validators, schemas) allocates in bursts,
 * V8 grows the young generation to its maximum for them and keeps it, and nothing at
 * idle ever prompts V8 to shrink it again: measured on `bash scripts/start.sh`, about
 * 20 MiB of idle RSS (young generation 16 → 1 MiB, old generation and code compacted).
 * Under load the young generation grows back to `--max-semi-space-size` as usual, so
 * throughput is unchanged. Blocks for one collection (~50-100 ms at start). Returns
 * its duration in ms.
 *
 * `gc` is V8's own (`--expose-gc`), taken for this call only from a fresh context and
 * the flag reset (the way Jest reads heap usage), so no global `gc` is left exposed.
 */
export function releaseStartupMemory(): number {
  let gc = (globalThis as { gc?: Gc }).gc;
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    try {
      gc = runInNewContext('gc') as Gc;
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  }
  const started = performance.now();
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
  return performance.now() - started;
}
