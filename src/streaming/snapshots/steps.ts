/**
 * Snapshots built in steps. Building a large handler's columns (100k users' histories,
 * rings and profiles) is seconds of work at 1M+ events; done in one go it would block the
 * event loop, so HTTP, the gateway and intake would stall with it. A handler with much
 * state builds its snapshot in a generator that yields at checkpoints (every few hundred
 * users or tracks); the processor runs it with `runStepsCooperatively`, which lets the
 * event loop turn whenever a slice of work has run `sliceMs`. The handler's state does not
 * change between two steps: the processor holds its lock meanwhile (no batch, no erasure),
 * and what else runs only reads (queries may materialize a lazily restored user, which
 * keeps its content). `runSteps` runs the same steps back to back (a synchronous `snapshot()`).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

/** A snapshot being built: each `yield` is a checkpoint where the event loop may turn. */
export type Steps<T> = Generator<void, T, undefined>;

/** Runs every step at once. */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

export interface SteppedResult<T> {
  value: T;
  /** CPU time of the steps themselves (process.cpuUsage over the slices, not what ran between them). */
  cpuMs: number;
  /** Slices run (the event loop turned between two). */
  slices: number;
  /** Wall time of the longest slice: the longest the event loop waited on this snapshot. */
  longestSliceMs: number;
}

/** Default slice: short enough for the gateway's latency, long enough that turning costs little. */
export const SNAPSHOT_SLICE_MS = 10;

/** Runs the steps, letting the event loop turn (`setImmediate`) whenever a slice has run `sliceMs`. */
export async function runStepsCooperatively<T>(
  steps: Steps<T>,
  sliceMs = SNAPSHOT_SLICE_MS,
): Promise<SteppedResult<T>> {
  let cpuMs = 0;
  let slices = 0;
  let longestSliceMs = 0;
  for (;;) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    let r = steps.next();
    while (!r.done && performance.now() - t0 < sliceMs) r = steps.next();
    const c = process.cpuUsage(c0);
    cpuMs += (c.user + c.system) / 1000;
    slices++;
    longestSliceMs = Math.max(longestSliceMs, performance.now() - t0);
    if (r.done) return { value: r.value, cpuMs, slices, longestSliceMs };
    await nextTurn();
  }
}

/** The steps, ended early (`undefined`) at the first checkpoint where `stop()` holds. */
export function* cancellable<T>(steps: Steps<T>, stop: () => boolean): Steps<T | undefined> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (stop()) {
      steps.return(undefined as T);
      return undefined;
    }
    yield;
  }
}

/** A checkpoint every CHECKPOINT_EVERY iterations: `if (checkpoint(i)) yield;` */
export const CHECKPOINT_EVERY = 256;
export function checkpoint(i: number): boolean {
  return (i & (CHECKPOINT_EVERY - 1)) === CHECKPOINT_EVERY - 1;
}
