import { describe, expect, it } from 'vitest';
import { checkpoint, runSteps, runStepsCooperatively, type Steps } from './steps.ts';

/** Sums 0..n-1 with a checkpoint per item, each item busy for `busyMs`. */
function* sum(n: number, busyMs = 0): Steps<number> {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const until = performance.now() + busyMs;
    while (performance.now() < until);
    s += i;
    yield;
  }
  return s;
}

describe('snapshot steps', () => {
  it('runSteps and runStepsCooperatively give the same value', async () => {
    expect(runSteps(sum(1000))).toBe(499_500);
    const r = await runStepsCooperatively(sum(1000));
    expect(r.value).toBe(499_500);
    expect(r.slices).toBeGreaterThanOrEqual(1);
  });

  it('lets the event loop turn between slices, never inside one', async () => {
    let turns = 0;
    let running = true;
    const tick = (): void => {
      turns++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    // 40 steps of 1 ms in slices of 5 ms: the loop turns between slices.
    const r = await runStepsCooperatively(sum(40, 1), 5);
    running = false;
    expect(r.value).toBe(780);
    expect(r.slices).toBeGreaterThan(1);
    expect(turns).toBeGreaterThanOrEqual(r.slices - 1);
    // All at once: no turn until it is done.
    const before = turns;
    running = true;
    setImmediate(tick);
    expect(runSteps(sum(40, 1))).toBe(780);
    expect(turns).toBe(before);
    running = false;
    await new Promise((r) => setImmediate(r));
  });

  it('checkpoint is due once per CHECKPOINT_EVERY iterations', () => {
    let due = 0;
    for (let i = 0; i < 1024; i++) if (checkpoint(i)) due++;
    expect(due).toBe(4);
  });
});
