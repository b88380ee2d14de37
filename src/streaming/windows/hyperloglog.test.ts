import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash64, HyperLogLog, mulberry32 } from './index.ts';

/** Registers computed straight from hash64: the reference for the rank/index arithmetic. */
function referenceRegisters(values: (string | number)[], p: number): Uint8Array {
  const regs = new Uint8Array(1 << p);
  for (const v of values) {
    const h = hash64(v);
    const idx = Number(h >> BigInt(64 - p));
    const rest = (h << BigInt(p)) & ((1n << 64n) - 1n);
    let rank = 1;
    for (let bit = 63; bit >= p && ((rest >> BigInt(bit)) & 1n) === 0n; bit--) rank++;
    regs[idx] = Math.max(regs[idx]!, rank);
  }
  return regs;
}

function sketch(values: Iterable<string | number>, p = 12): HyperLogLog {
  const h = new HyperLogLog(p);
  for (const v of values) h.add(v);
  return h;
}

function* ids(prefix: string, from: number, to: number): Generator<string> {
  for (let i = from; i < to; i++) yield `${prefix}${i}`;
}

describe('hash64', () => {
  it('is deterministic and distinguishes types and near strings', () => {
    expect(hash64('user-1')).toBe(hash64('user-1'));
    expect(hash64('user-1')).not.toBe(hash64('user-2'));
    expect(hash64('ab')).not.toBe(hash64('ba'));
    expect(hash64('')).not.toBe(hash64('\u0000'));
    expect(hash64(1)).not.toBe(hash64(2));
    expect(hash64(0)).not.toBe(0n);
    expect(hash64(1.5)).toBe(hash64('1.5')); // non-integers hash as their decimal string
  });

  it('never collides on distinct integers (the integer mix is a bijection) — sampled', () => {
    const seen = new Set<bigint>();
    for (let i = 0; i < 200_000; i++) seen.add(hash64(i));
    for (let i = 0; i < 1000; i++) seen.add(hash64(2 ** 52 + i * 7919));
    expect(seen.size).toBe(201_000);
  });

  it('sets every output bit about half the time on sequential ids (avalanche)', () => {
    const n = 100_000;
    for (const make of [(i: number) => `u${i}`, (i: number) => i, (i: number) => `track:${i}:x`]) {
      const ones = new Array<number>(64).fill(0);
      for (let i = 0; i < n; i++) {
        const h = hash64(make(i));
        for (let b = 0; b < 64; b++) if ((h >> BigInt(b)) & 1n) ones[b]!++;
      }
      // σ of a fair bit count is √(n/4) ≈ 158; allow 5σ.
      for (const c of ones) expect(Math.abs(c - n / 2)).toBeLessThan(5 * Math.sqrt(n / 4));
    }
  });
});

describe('HyperLogLog', () => {
  it('validates the precision', () => {
    expect(() => new HyperLogLog(3)).toThrow(RangeError);
    expect(() => new HyperLogLog(17)).toThrow(RangeError);
    expect(() => new HyperLogLog(12.5)).toThrow(RangeError);
    expect(new HyperLogLog(14).m).toBe(16_384);
    expect(new HyperLogLog().precision).toBe(12);
  });

  it.each([4, 12, 14])(
    'keeps the register-wise max rank of the 64-bit hash (p=%i), sparse and dense alike',
    (p) => {
      const random = mulberry32(p);
      const values = Array.from({ length: 3000 }, (_, i) =>
        i % 3 === 0 ? Math.floor(random() * 1e9) : `v${Math.floor(random() * 1e6)}`,
      );
      for (const n of [1, 10, 100, 3000]) {
        const h = sketch(values.slice(0, n), p);
        expect(h.registers()).toEqual(referenceRegisters(values.slice(0, n), p));
      }
      const big = sketch(values, p);
      expect(big.sparse).toBe(false);
      expect(sketch(values.slice(0, 5), 14).sparse).toBe(true);
    },
  );

  it('is (near) exact for small cardinalities thanks to linear counting', () => {
    expect(new HyperLogLog().estimate()).toBe(0);
    for (const n of [1, 2, 5, 10, 50, 100, 500, 1000]) {
      const est = sketch(ids('s', 0, n)).estimate();
      expect(Math.abs(est - n)).toBeLessThanOrEqual(Math.max(1, 0.02 * n));
    }
  });

  it('ignores duplicates', () => {
    const once = sketch(ids('d', 0, 5000));
    const twice = sketch([...ids('d', 0, 5000), ...ids('d', 0, 5000)]);
    expect(twice.registers()).toEqual(once.registers());
  });

  describe.each([12, 14])('accuracy at p=%i: within 3σ (σ = 1.04/√m)', (p) => {
    const sigma = 1.04 / Math.sqrt(2 ** p);
    it.each([10_000, 100_000, 1_000_000])('n = %i distinct', (n) => {
      const strings = sketch(ids(`id-${n}-`, 0, n), p);
      const errS = Math.abs(strings.estimate() - n) / n;
      expect(errS).toBeLessThan(3 * sigma);
      const h = new HyperLogLog(p);
      for (let i = 0; i < n; i++) h.add(i * 2654435761 + 17); // integers take the other hash path
      expect(Math.abs(h.estimate() - n) / n).toBeLessThan(3 * sigma);
      expect(strings.standardError).toBeCloseTo(sigma);
    });
  });

  // Around the linear-counting switch (2.5m–3m) the raw estimator is biased upward; the
  // mean over independent sets must still be unbiased there.
  it.each([2_000, 8_000, 10_240, 11_500, 20_000])(
    'is unbiased on average at n = %i (p=12; mean of 30 sets within 4σ/√30)',
    (n) => {
      const p = 12;
      const runs = 30;
      let sum = 0;
      for (let r = 0; r < runs; r++) sum += (sketch(ids(`run${r}-`, 0, n), p).estimate() - n) / n;
      expect(Math.abs(sum / runs)).toBeLessThan((4 * 1.04) / Math.sqrt(2 ** p) / Math.sqrt(runs));
    },
  );

  it('merge is exactly the sketch of the union (sparse+sparse, sparse+dense, dense+dense)', () => {
    const cases: [number, number][] = [
      [20, 30],
      [20, 50_000],
      [50_000, 20],
      [40_000, 60_000],
    ];
    for (const [na, nb] of cases) {
      const a = sketch(ids('x', 0, na));
      const b = sketch(ids('x', na - 10, na - 10 + nb)); // overlapping
      const union = sketch([...ids('x', 0, na), ...ids('x', na - 10, na - 10 + nb)]);
      const merged = a.clone();
      merged.merge(b);
      expect(merged.registers()).toEqual(union.registers());
      expect(merged.estimate()).toBe(union.estimate());
      const other = b.clone();
      other.merge(a);
      expect(other.registers()).toEqual(union.registers());
    }
    expect(() => new HyperLogLog(12).merge(new HyperLogLog(14))).toThrow(RangeError);
  });

  it('merge is commutative and associative (property)', () => {
    const set = fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.nat()), { maxLength: 400 });
    fc.assert(
      fc.property(set, set, set, (xa, xb, xc) => {
        const [a, b, c] = [xa, xb, xc].map((x) => sketch(x, 6));
        const left = a!.clone();
        left.merge(b!);
        left.merge(c!);
        const right = c!.clone();
        const bc = b!.clone();
        bc.merge(a!);
        right.merge(bc);
        expect(left.registers()).toEqual(right.registers());
        expect(left.registers()).toEqual(sketch([...xa, ...xb, ...xc], 6).registers());
      }),
      { numRuns: 150 },
    );
  });

  it('round-trips through JSON, sparse and dense', () => {
    for (const n of [0, 7, 100_000]) {
      const h = sketch(ids('j', 0, n), 13);
      const back = HyperLogLog.fromJSON(JSON.parse(JSON.stringify(h)) as ReturnType<HyperLogLog['toJSON']>);
      expect(back.precision).toBe(13);
      expect(back.sparse).toBe(h.sparse);
      expect(back.registers()).toEqual(h.registers());
      expect(back.estimate()).toBe(h.estimate());
    }
    expect(() => HyperLogLog.fromJSON({ p: 12, d: Buffer.alloc(10).toString('base64') })).toThrow(RangeError);
  });

  it('stays small while sparse: a handful of values does not allocate m registers', () => {
    const h = sketch(ids('few', 0, 50), 14);
    expect(h.sparse).toBe(true);
    expect(JSON.stringify(h).length).toBeLessThan(1000);
    const dense = sketch(ids('many', 0, 5000), 14);
    expect(dense.sparse).toBe(false);
  });
});
