/**
 * HyperLogLog (Flajolet et al. 2007) distinct-count sketch over the 64-bit hash of
 * `hash.ts`: m = 2^p registers (p = 4..16, default 12), register j keeps the largest
 * rank (leading zeros + 1) seen among hashes whose top p bits are j. Estimate: the
 * harmonic-mean estimator αm·m²/Σ2^−M[j], with the linear-counting small-range
 * correction m·ln(m/V) while V registers are still zero and that count is ≤ 2.8m (see
 * LC_SWITCH; no large-range correction is needed with 64-bit hashes). Standard error ≈ 1.04/√m:
 * 1.63% at p=12, 0.81% at p=14.
 *
 * Memory: a sketch starts *sparse* — an open-addressing table of (register, rank) pairs
 * packed in a Uint32Array — and turns dense (one byte per register, m bytes) once it holds
 * more than m/16 registers, so a window × key cell with a handful of values costs tens of
 * bytes, not m. Both forms give the same estimate for the same registers.
 *
 * Mergeable: `merge()` takes the register-wise maximum, which is exactly the sketch of the
 * union of the two inputs (sliding panes, session merges). JSON form via `toJSON()` /
 * `HyperLogLog.fromJSON()`.
 */
import { HASH, hashInto } from './hash.ts';

export const HLL_MIN_PRECISION = 4;
export const HLL_MAX_PRECISION = 16;
export const HLL_DEFAULT_PRECISION = 12;

/** 2^−r for every possible rank. */
const POW2_NEG = new Float64Array(66).map((_, r) => 2 ** -r);
const SPARSE_INITIAL = 16;
/**
 * Linear counting is used while its estimate is ≤ LC_SWITCH·m. The classic rule (raw
 * estimate ≤ 2.5m) switches too early: by simulation (p = 12, 14; 40 runs each) the raw
 * estimator is still biased upward by +2.3% at n = 2.5m and +1.5% at 2.75m, while linear
 * counting's RMS error stays below the raw one's up to ≈ 2.8m.
 */
const LC_SWITCH = 2.8;

export interface HyperLogLogJson {
  p: number;
  /** Dense registers, base64. */
  d?: string;
  /** Sparse entries: ((register + 1) << 6) | rank. */
  s?: number[];
}

export class HyperLogLog {
  readonly precision: number;
  /** Number of registers, 2^precision. */
  readonly m: number;
  #dense: Uint8Array | undefined;
  #sparse: Uint32Array | undefined = new Uint32Array(SPARSE_INITIAL);
  #sparseCount = 0;
  readonly #sparseLimit: number;
  readonly #shift: number;

  constructor(precision = HLL_DEFAULT_PRECISION) {
    if (!Number.isInteger(precision) || precision < HLL_MIN_PRECISION || precision > HLL_MAX_PRECISION) {
      throw new RangeError(
        `HyperLogLog precision must be an integer in ${HLL_MIN_PRECISION}..${HLL_MAX_PRECISION}, got ${precision}`,
      );
    }
    this.precision = precision;
    this.m = 1 << precision;
    this.#shift = 32 - precision;
    this.#sparseLimit = this.m >>> 4;
  }

  /** Standard error of the estimate, 1.04/√m. */
  get standardError(): number {
    return 1.04 / Math.sqrt(this.m);
  }

  /** Whether the sketch is still in its sparse form. */
  get sparse(): boolean {
    return this.#dense === undefined;
  }

  add(value: string | number): void {
    hashInto(value);
    this.#addHashed();
  }

  /** Adds a precomputed 64-bit hash given as unsigned 32-bit halves. */
  addHash(hi: number, lo: number): void {
    HASH[0] = hi;
    HASH[1] = lo;
    this.#addHashed();
  }

  /** Adds the hash in HASH (read here: 32-bit values passed as arguments would be boxed). */
  #addHashed(): void {
    const hi = HASH[0]!;
    const lo = HASH[1]!;
    const p = this.precision;
    const idx = hi >>> this.#shift;
    const w = hi << p;
    const rank = w !== 0 ? Math.clz32(w) + 1 : this.#shift + Math.clz32(lo) + 1;
    const dense = this.#dense;
    if (dense !== undefined) {
      if (rank > dense[idx]!) dense[idx] = rank;
      return;
    }
    this.#setSparse(idx, rank);
  }

  #setSparse(idx: number, rank: number): void {
    const table = this.#sparse!;
    const mask = table.length - 1;
    const tag = (idx + 1) << 6;
    for (let i = idx & mask; ; i = (i + 1) & mask) {
      const e = table[i]!;
      if (e === 0) {
        table[i] = tag | rank;
        if (++this.#sparseCount > this.#sparseLimit) this.#toDense();
        else if (this.#sparseCount * 2 > table.length) this.#growSparse();
        return;
      }
      if ((e & ~63) === tag) {
        if (rank > (e & 63)) table[i] = tag | rank;
        return;
      }
    }
  }

  #growSparse(): void {
    const old = this.#sparse!;
    this.#sparse = new Uint32Array(old.length * 2);
    this.#sparseCount = 0;
    for (const e of old) if (e !== 0) this.#setSparse((e >>> 6) - 1, e & 63);
  }

  #toDense(): void {
    const dense = new Uint8Array(this.m);
    for (const e of this.#sparse!) {
      if (e === 0) continue;
      const idx = (e >>> 6) - 1;
      const rank = e & 63;
      if (rank > dense[idx]!) dense[idx] = rank;
    }
    this.#dense = dense;
    this.#sparse = undefined;
    this.#sparseCount = 0;
  }

  /** The estimated number of distinct values added. */
  estimate(): number {
    const m = this.m;
    let sum = 0;
    let zeros = 0;
    const dense = this.#dense;
    if (dense !== undefined) {
      for (let j = 0; j < m; j++) {
        const r = dense[j]!;
        sum += POW2_NEG[r]!;
        if (r === 0) zeros++;
      }
    } else {
      zeros = m - this.#sparseCount;
      sum = zeros;
      for (const e of this.#sparse!) if (e !== 0) sum += POW2_NEG[e & 63]!;
    }
    const alpha = m === 16 ? 0.673 : m === 32 ? 0.697 : m === 64 ? 0.709 : 0.7213 / (1 + 1.079 / m);
    if (zeros > 0) {
      const lc = m * Math.log(m / zeros);
      if (lc <= LC_SWITCH * m) return lc;
    }
    return (alpha * m * m) / sum;
  }

  /** Register-wise maximum with `other` (the sketch of the union). Same precision only. */
  merge(other: HyperLogLog): void {
    if (other.precision !== this.precision) {
      throw new RangeError(`cannot merge HyperLogLog of precision ${other.precision} into ${this.precision}`);
    }
    const src = other.#dense;
    if (src === undefined) {
      for (const e of other.#sparse!) if (e !== 0) this.#set((e >>> 6) - 1, e & 63);
      return;
    }
    if (this.#dense === undefined) this.#toDense();
    const dst = this.#dense!;
    for (let j = 0; j < dst.length; j++) if (src[j]! > dst[j]!) dst[j] = src[j]!;
  }

  #set(idx: number, rank: number): void {
    const dense = this.#dense;
    if (dense !== undefined) {
      if (rank > dense[idx]!) dense[idx] = rank;
    } else this.#setSparse(idx, rank);
  }

  /** The register values, dense (for tests and merges; allocates). */
  registers(): Uint8Array {
    if (this.#dense !== undefined) return this.#dense.slice();
    const out = new Uint8Array(this.m);
    for (const e of this.#sparse!) if (e !== 0) out[(e >>> 6) - 1] = e & 63;
    return out;
  }

  clone(): HyperLogLog {
    const c = new HyperLogLog(this.precision);
    c.merge(this);
    return c;
  }

  toJSON(): HyperLogLogJson {
    if (this.#dense !== undefined)
      return { p: this.precision, d: Buffer.from(this.#dense).toString('base64') };
    const s: number[] = [];
    for (const e of this.#sparse!) if (e !== 0) s.push(e);
    return { p: this.precision, s };
  }

  static fromJSON(json: HyperLogLogJson): HyperLogLog {
    const h = new HyperLogLog(json.p);
    if (json.d !== undefined) {
      const regs = Buffer.from(json.d, 'base64');
      if (regs.length !== h.m)
        throw new RangeError(`HyperLogLog JSON has ${regs.length} registers, expected ${h.m}`);
      h.#dense = new Uint8Array(regs);
      h.#sparse = undefined;
    } else {
      for (const e of json.s ?? []) h.#set((e >>> 6) - 1, e & 63);
    }
    return h;
  }
}
