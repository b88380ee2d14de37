/**
 * Benchmark peer: Backbeat itself — the real App with its embedded engines, limits
 * raised so the load generator (one user, many sockets) is not refused. Prints `READY <port>`.
 */
import { flushCompileCache } from 'node:module';
import { App } from '../../src/app.ts';
import { loadConfig } from '../../src/core/config/index.ts';
import { releaseStartupMemory } from '../../src/core/modules/index.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// As src/main.ts does once its modules are loaded: the compile cache's entries dropped before
// start-up allocates the rest (NODE_COMPILE_CACHE, which bench/run.ts sets as start.sh does).
flushCompileCache();

const app = new App(
  loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'bb-bench-')),
    JWT_SECRET: process.env['BENCH_SECRET'] ?? 'bench-secret-0123456789abcdef0123456789',
    LOG_LEVEL: 'warn',
    MAX_CONNECTIONS_PER_USER: '100000',
    RATE_LIMIT_COMMANDS: '1000000',
    OUTBOUND_MAX_BYTES: process.env['OUTBOUND_MAX_BYTES'] ?? '4194304',
    // STREAM_WORKER=false: the built-in stream handlers on the main thread (memory vs throughput).
    ...(process.env['STREAM_WORKER'] ? { STREAM_WORKER: process.env['STREAM_WORKER'] } : {}),
    // The cluster benchmark starts three of these on one Redis (bench/run.ts).
    ...(process.env['REDIS_URL']
      ? {
          REDIS_URL: process.env['REDIS_URL'],
          REDIS_PREFIX: process.env['REDIS_PREFIX'] ?? 'bench:',
          HISTORY_SIZE: '1000',
        }
      : {}),
  }),
);
await app.start();
// As src/main.ts does once started: the compile cache written (when NODE_COMPILE_CACHE is
// set, as scripts/start.sh sets it), start-up's transient memory given back.
flushCompileCache();
releaseStartupMemory();
console.log(`READY ${new URL(app.url).port}`);

// Memory measurements (bench/loadgen.ts): SIGUSR2 runs a full GC so RSS reflects live memory.
process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
process.on('SIGUSR1', () => {
  const m = process.memoryUsage();
  console.log(`MEM heap=${m.heapUsed} rss=${m.rss} external=${m.external} arrayBuffers=${m.arrayBuffers}`);
});
// SIGINT: a clean exit (so `--cpu-prof` can write its profile); the runner uses SIGKILL otherwise.
process.on('SIGINT', () => void app.close({ drain: false }).finally(() => process.exit(0)));
