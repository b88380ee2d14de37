import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.ts';
import { OffsetTracker, type TrackedPublication } from './tracker.ts';

const pub = (offset: number): TrackedPublication => ({ offset, data: offset });

describe('backoffDelay (full jitter)', () => {
  const o = { minDelayMs: 100, maxDelayMs: 5000 };
  it('draws from [0, min(max, min × 2^attempt)]', () => {
    expect(backoffDelay(0, o, () => 0.999)).toBe(99);
    expect(backoffDelay(3, o, () => 0.999)).toBe(799);
    expect(backoffDelay(10, o, () => 0.999)).toBe(4995);
    expect(backoffDelay(100, o, () => 0.5)).toBe(2500);
    expect(backoffDelay(5, o, () => 0)).toBe(0);
  });
});

describe('OffsetTracker', () => {
  function make(history: TrackedPublication[] = []) {
    const delivered: number[] = [];
    const lost: Array<[number, number]> = [];
    const fetches: Array<[number, number]> = [];
    const t = new OffsetTracker({
      deliver: (p) => delivered.push(p.offset),
      fetch: async (offset, limit) => {
        fetches.push([offset, limit]);
        return history.filter((p) => p.offset > offset).slice(0, limit);
      },
      lost: (from, to) => lost.push([from, to]),
    });
    t.reset(0, 'e1');
    return { t, delivered, lost, fetches };
  }

  it('delivers in order and drops duplicates', () => {
    const { t, delivered } = make();
    for (const o of [1, 2, 2, 1, 3]) t.push(pub(o));
    expect(delivered).toEqual([1, 2, 3]);
  });

  it('holds a publication after a gap, fills the gap from history, then delivers in order', async () => {
    const { t, delivered, fetches } = make([pub(1), pub(2), pub(3), pub(4)]);
    t.push(pub(4));
    t.push(pub(5));
    await new Promise((r) => setTimeout(r, 0));
    expect(fetches).toEqual([[0, 3]]);
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
  });

  it('reports what history cannot supply and moves on', async () => {
    const { t, delivered, lost } = make([pub(3)]);
    t.push(pub(4));
    await new Promise((r) => setTimeout(r, 0));
    expect(lost).toEqual([[0, 2]]);
    expect(delivered).toEqual([3, 4]);
  });

  it('does nothing before it has a position; reset drops held publications', () => {
    const { t, delivered } = make();
    t.reset(-1, '');
    t.push(pub(1));
    expect(delivered).toEqual([]);
    t.reset(10, 'e2');
    t.push(pub(11));
    expect(delivered).toEqual([11]);
  });
});
