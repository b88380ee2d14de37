import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntSlots } from './int-slots.ts';

describe('IntSlots', () => {
  it('maps keys to slots, grows, and is emptied by clear', () => {
    const m = new IntSlots(2);
    expect(m.get(0)).toBe(-1);
    for (let k = 0; k < 1000; k++) m.set(k * 7919, k);
    expect(m.size).toBe(1000);
    expect(m.capacity).toBeGreaterThanOrEqual(2000);
    for (let k = 0; k < 1000; k++) expect(m.get(k * 7919)).toBe(k);
    expect(m.has(1)).toBe(false);
    m.set(7919, 42); // replace
    expect(m.get(7919)).toBe(42);
    expect(m.size).toBe(1000);
    m.clear();
    expect(m.size).toBe(0);
    expect(m.get(7919)).toBe(-1);
  });

  it('agrees with a Map on any sequence of sets and clears (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.tuple(fc.integer({ min: 0, max: 0x3fffffff }), fc.nat(500)),
            fc.tuple(fc.integer({ min: 0, max: 64 }), fc.nat(500)),
            fc.constant('clear' as const),
          ),
          { maxLength: 300 },
        ),
        (ops) => {
          const m = new IntSlots();
          const ref = new Map<number, number>();
          for (const op of ops) {
            if (op === 'clear') {
              m.clear();
              ref.clear();
            } else {
              m.set(op[0], op[1]);
              ref.set(op[0], op[1]);
            }
          }
          expect(m.size).toBe(ref.size);
          for (const [k, v] of ref) expect(m.get(k)).toBe(v);
          for (let k = 0; k <= 64; k++) expect(m.get(k)).toBe(ref.get(k) ?? -1);
        },
      ),
    );
  });
});
