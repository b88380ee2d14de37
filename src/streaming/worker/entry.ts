/**
 * The stream worker's entry point (`new Worker(new URL('./entry.ts', …))` in host.ts):
 * the built-in handlers' processor, on the worker's parentPort (runtime.ts).
 */
import { flushCompileCache } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import { releaseStartupMemory } from '../../core/modules/index.ts';
import type { WorkerData } from './protocol.ts';
import type { RpcPort } from './rpc.ts';
import { runStreamWorker } from './runtime.ts';

// Once started, as main.ts does for the main thread: the compiled code goes to the compile
// cache (NODE_COMPILE_CACHE, set by scripts/start.sh: the next start skips the type
// stripper), and one memory-reducing GC gives back what start-up and a snapshot restore
// left in the young generation (measured ~134 -> ~120 MiB idle RSS of the whole process).
runStreamWorker(parentPort as unknown as RpcPort, workerData as WorkerData, () => {
  flushCompileCache();
  releaseStartupMemory();
});
