import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RingBuffer } from './ring-buffer.ts';

describe('RingBuffer', () => {
  it('keeps the newest `capacity` entries, overwriting the oldest', () => {
    const r = new RingBuffer<number>(3);
    expect(r.size).toBe(0);
    expect(r.recent(0)).toBeUndefined();
    expect(r.push(1)).toBeUndefined();
    r.push(2);
    r.push(3);
    expect(r.toArray()).toEqual([1, 2, 3]);
    expect(r.push(4)).toBe(1); // returns what it overwrote
    expect(r.size).toBe(3);
    expect(r.toArray()).toEqual([2, 3, 4]);
    expect([...r.newestFirst()]).toEqual([4, 3, 2]);
    expect(r.recent(0)).toBe(4);
    expect(r.recent(2)).toBe(2);
    expect(r.recent(3)).toBeUndefined();
    expect(r.recent(-1)).toBeUndefined();
    r.clear();
    expect(r.size).toBe(0);
    expect(r.toArray()).toEqual([]);
  });

  it('matches "last n of the pushed sequence" for any sequence and capacity', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.integer(), { maxLength: 100 }), (cap, xs) => {
        const r = new RingBuffer<number>(cap);
        for (const x of xs) r.push(x);
        expect(r.toArray()).toEqual(xs.slice(-cap));
        expect(r.size).toBe(Math.min(cap, xs.length));
      }),
    );
  });

  it('refuses a capacity that is not a positive integer', () => {
    for (const c of [0, -1, 1.5, Number.NaN]) expect(() => new RingBuffer(c)).toThrow(RangeError);
  });
});
