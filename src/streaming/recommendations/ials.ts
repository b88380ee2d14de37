import { mulberry32 } from '../../core/random/index.ts';
import { runSteps, type Steps } from '../snapshots/steps.ts';

/**
 * Implicit ALS (Hu, Koren & Volinsky 2008, "Collaborative Filtering for Implicit Feedback
 * Datasets"): every (user, item) pair has preference p = 1 if the user interacted with the
 * item (weight w > 0) and 0 otherwise, with confidence c = 1 + alpha · w (1 for the
 * unobserved ones). Minimizes Σ c (p − xᵤ·yᵢ)² + reg (Σ‖xᵤ‖² + Σ‖yᵢ‖²) by alternating exact
 * least-squares solves over the rows of each side.
 *
 * One row's solve uses the YᵀY trick: (YᵀY + Yᵤᵀ(Cᵤ − I)Yᵤ + reg·I) xᵤ = Yᵤᵀ cᵤ, where YᵀY is
 * computed once per half-iteration, so a row costs O(nnzᵤ · f² + f³) (the rank-1 updates
 * of its observed items and a Cholesky factorization of the f × f system), not O(items · f²).
 * A full iteration is O(nnz · f² + (users + items) · f³).
 *
 * Items are restricted to the `maxItems` with the most users (ties by key), which bounds
 * the item side and the per-query scoring (K · f). Float64Array throughout, seeded
 * initialization (mulberry32): the same rows and options give the same factors, bit for bit.
 */
export interface IalsOptions {
  /** Latent factors f. Default 64. */
  factors?: number;
  /** L2 regularization. Default 50 (Last.fm 2K: too high against alpha collapses to popularity). */
  reg?: number;
  /** Confidence c = 1 + alpha · w. Default 2. */
  alpha?: number;
  /** Alternating iterations (users then items). Default 15. */
  iterations?: number;
  /** Initialization seed (mulberry32). Default 1. */
  seed?: number;
  /** Items modelled: the ones with the most users (ties by key ascending). Default 4,000. */
  maxItems?: number;
  /** Rows solved between two checkpoints of `ialsSteps` (where a caller may let the event loop turn). Default 64. */
  stepRows?: number;
}

export type ResolvedIalsOptions = Required<IalsOptions>;

export const IALS_DEFAULTS: ResolvedIalsOptions = {
  factors: 64,
  reg: 50,
  alpha: 2,
  iterations: 15,
  seed: 1,
  maxItems: 4000,
  stepRows: 64,
};

/** One user's interactions: item key and positive weight (w ≤ 0 or non-finite entries are ignored; repeated keys are summed). */
export type IalsRow = readonly (readonly [key: string, weight: number])[];

/** Defaults filled in and every option checked; throws RangeError. */
export function resolveIalsOptions(options: IalsOptions = {}): ResolvedIalsOptions {
  const o = { ...IALS_DEFAULTS, ...options };
  for (const k of ['factors', 'maxItems', 'stepRows'] as const) {
    if (!(Number.isInteger(o[k]) && o[k] >= 1))
      throw new RangeError(`${k} must be a positive integer, got ${o[k]}`);
  }
  if (!(Number.isInteger(o.iterations) && o.iterations >= 0))
    throw new RangeError(`iterations must be a non-negative integer, got ${o.iterations}`);
  if (!(Number.isFinite(o.reg) && o.reg > 0))
    throw new RangeError(`reg must be a finite number > 0, got ${o.reg}`);
  if (!(Number.isFinite(o.alpha) && o.alpha >= 0))
    throw new RangeError(`alpha must be a finite number ≥ 0, got ${o.alpha}`);
  if (!Number.isFinite(o.seed)) throw new RangeError(`seed must be finite, got ${o.seed}`);
  if (o.factors > 1024) throw new RangeError(`factors must be ≤ 1024, got ${o.factors}`);
  return o;
}

/** A sparse matrix by rows: row r's columns are `col[off[r]..off[r+1])` with weights `w[..]`. */
interface Csr {
  off: Uint32Array;
  col: Uint32Array;
  w: Float64Array;
}

/** Trained factors: item factors Y (K × f, row-major), user factors X (n × f), and what a fold-in needs. */
export class IalsModel {
  readonly options: ResolvedIalsOptions;
  /** The modelled items' keys, index = row of `itemFactors`. */
  readonly keys: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  readonly itemFactors: Float64Array;
  /** Row r = the r-th training row's vector (zeros for a row with no modelled item). */
  readonly userFactors: Float64Array;
  /** YᵀY + reg · I of the final item factors (full symmetric f × f), shared by every fold-in. */
  readonly gram: Float64Array;
  readonly #a: Float64Array;
  readonly #b: Float64Array;

  constructor(
    options: ResolvedIalsOptions,
    keys: readonly string[],
    itemFactors: Float64Array,
    userFactors: Float64Array,
  ) {
    this.options = options;
    this.keys = keys;
    this.index = new Map(keys.map((k, i) => [k, i]));
    this.itemFactors = itemFactors;
    this.userFactors = userFactors;
    const f = options.factors;
    this.gram = gramOf(itemFactors, keys.length, f, options.reg);
    this.#a = new Float64Array(f * f);
    this.#b = new Float64Array(f);
  }

  get factors(): number {
    return this.options.factors;
  }

  get items(): number {
    return this.keys.length;
  }

  /**
   * One user's vector from their interactions and the final item factors (the same solve as
   * a training row): O(nnz · f² + f³). Undefined when none of the items is modelled.
   * `items` are item indices (into `keys`), `weights` their positive weights.
   */
  foldInIndexed(
    items: ArrayLike<number>,
    weights: ArrayLike<number>,
    n = items.length,
  ): Float64Array | undefined {
    const f = this.options.factors;
    let any = false;
    for (let j = 0; j < n; j++) if ((weights[j] as number) > 0) any = true;
    if (!any) return undefined;
    const out = new Float64Array(f);
    solveRow(
      this.gram,
      this.itemFactors,
      f,
      this.options.alpha,
      items,
      weights,
      0,
      n,
      this.#a,
      this.#b,
      out,
      0,
    );
    return out;
  }

  /** `foldInIndexed` by key (keys not modelled and weights ≤ 0 ignored, repeats summed). */
  foldIn(row: IalsRow): Float64Array | undefined {
    const merged = new Map<number, number>();
    for (const [key, w] of row) {
      const i = this.index.get(key);
      if (i === undefined || !(w > 0) || !Number.isFinite(w)) continue;
      merged.set(i, (merged.get(i) ?? 0) + w);
    }
    if (merged.size === 0) return undefined;
    return this.foldInIndexed([...merged.keys()], [...merged.values()]);
  }

  /** x · yᵢ for every modelled item i (O(K · f)). */
  scores(x: Float64Array, out = new Float64Array(this.keys.length)): Float64Array {
    const f = this.options.factors;
    const Y = this.itemFactors;
    for (let i = 0, o = 0; i < this.keys.length; i++, o += f) {
      let s = 0;
      for (let a = 0; a < f; a++) s += (x[a] as number) * (Y[o + a] as number);
      out[i] = s;
    }
    return out;
  }

  /** yᵢ · yⱼ (for explanations: which of a user's items is closest to a recommended one). */
  itemDot(i: number, j: number): number {
    const f = this.options.factors;
    const Y = this.itemFactors;
    let s = 0;
    for (let a = 0, p = i * f, q = j * f; a < f; a++) s += (Y[p + a] as number) * (Y[q + a] as number);
    return s;
  }
}

/** Trains at once (see `ialsSteps`). */
export function trainIals(rows: readonly IalsRow[], options: IalsOptions = {}, warm?: IalsModel): IalsModel {
  return runSteps(ialsSteps(rows, options, warm));
}

/**
 * The training in steps: yields after every `stepRows` row solves (and after building the
 * matrices), so a service can run it with `runStepsCooperatively` (snapshots/steps.ts)
 * between its other work. The rows are read once, before the first yield. `warm`: a
 * previous model of the same factor count whose item factors start the items they share
 * (a retraining then needs a few iterations, not a cold start's 15).
 */
export function* ialsSteps(
  rows: readonly IalsRow[],
  options: IalsOptions = {},
  warm?: IalsModel,
): Steps<IalsModel> {
  const o = resolveIalsOptions(options);
  const f = o.factors;
  // Merge repeated keys, drop non-positive weights, count users per item.
  const merged: Map<string, number>[] = [];
  const listeners = new Map<string, number>();
  for (const row of rows) {
    const m = new Map<string, number>();
    for (const [key, w] of row) {
      if (!(w > 0) || !Number.isFinite(w)) continue;
      m.set(key, (m.get(key) ?? 0) + w);
    }
    for (const key of m.keys()) listeners.set(key, (listeners.get(key) ?? 0) + 1);
    merged.push(m);
  }
  const keys = [...listeners.keys()]
    .sort(
      (a, b) => (listeners.get(b) as number) - (listeners.get(a) as number) || (a < b ? -1 : a > b ? 1 : 0),
    )
    .slice(0, o.maxItems);
  const index = new Map(keys.map((k, i) => [k, i]));
  const nUsers = merged.length;
  const nItems = keys.length;
  // Users × items (rows) and its transpose, with the weights.
  let nnz = 0;
  for (const m of merged) for (const k of m.keys()) if (index.has(k)) nnz++;
  const byUser: Csr = {
    off: new Uint32Array(nUsers + 1),
    col: new Uint32Array(nnz),
    w: new Float64Array(nnz),
  };
  const count = new Uint32Array(nItems + 1);
  let p = 0;
  merged.forEach((m, u) => {
    // Columns in ascending item index: the solve's summation order does not depend on the row's order.
    const cols: [number, number][] = [];
    for (const [k, w] of m) {
      const i = index.get(k);
      if (i !== undefined) cols.push([i, w]);
    }
    cols.sort((a, b) => a[0] - b[0]);
    for (const [i, w] of cols) {
      byUser.col[p] = i;
      byUser.w[p++] = w;
      count[i + 1]!++;
    }
    byUser.off[u + 1] = p;
  });
  const byItem: Csr = {
    off: new Uint32Array(nItems + 1),
    col: new Uint32Array(nnz),
    w: new Float64Array(nnz),
  };
  for (let i = 0; i < nItems; i++) byItem.off[i + 1] = byItem.off[i]! + count[i + 1]!;
  const fillAt = byItem.off.slice(0, nItems);
  for (let u = 0; u < nUsers; u++) {
    for (let q = byUser.off[u]!; q < byUser.off[u + 1]!; q++) {
      const i = byUser.col[q]!;
      const at = fillAt[i]!++;
      byItem.col[at] = u;
      byItem.w[at] = byUser.w[q]!;
    }
  }
  yield;
  // Seeded init: uniform with standard deviation 0.01.
  const rnd = mulberry32(o.seed);
  const half = 0.01 * Math.sqrt(3);
  const X = new Float64Array(nUsers * f);
  const Y = new Float64Array(nItems * f);
  for (let j = 0; j < X.length; j++) X[j] = (2 * rnd() - 1) * half;
  for (let j = 0; j < Y.length; j++) Y[j] = (2 * rnd() - 1) * half;
  if (warm && warm.factors === f)
    for (let i = 0; i < nItems; i++) {
      const w = warm.index.get(keys[i]!);
      if (w !== undefined) Y.set(warm.itemFactors.subarray(w * f, (w + 1) * f), i * f);
    }
  const A = new Float64Array(f * f);
  const b = new Float64Array(f);
  for (let it = 0; it < o.iterations; it++) {
    yield* solveSide(byUser, nUsers, Y, nItems, X, f, o, A, b);
    yield* solveSide(byItem, nItems, X, nUsers, Y, f, o, A, b);
  }
  // A last user pass, so that the user vectors are the solves against the final item factors
  // (exactly what a fold-in computes at query time).
  if (o.iterations > 0) yield* solveSide(byUser, nUsers, Y, nItems, X, f, o, A, b);
  return new IalsModel(o, keys, Y, X);
}

/** Solves every row of `out` (rows of `m`) against the fixed factors `fixed` (`nFixed` rows). */
function* solveSide(
  m: Csr,
  nRows: number,
  fixed: Float64Array,
  nFixed: number,
  out: Float64Array,
  f: number,
  o: ResolvedIalsOptions,
  A: Float64Array,
  b: Float64Array,
): Steps<void> {
  const G = gramOf(fixed, nFixed, f, o.reg);
  yield;
  for (let r = 0; r < nRows; r++) {
    const s = m.off[r]!;
    const e = m.off[r + 1]!;
    if (s === e) out.fill(0, r * f, (r + 1) * f);
    else solveRow(G, fixed, f, o.alpha, m.col, m.w, s, e, A, b, out, r * f);
    if ((r + 1) % o.stepRows === 0) yield;
  }
}

/** YᵀY + reg · I (full symmetric f × f) of the first n rows of Y. O(n · f²). */
function gramOf(Y: Float64Array, n: number, f: number, reg: number): Float64Array {
  const G = new Float64Array(f * f);
  for (let i = 0, o = 0; i < n; i++, o += f) {
    for (let a = 0; a < f; a++) {
      const ya = Y[o + a] as number;
      if (ya === 0) continue;
      const ra = a * f;
      for (let c = 0; c <= a; c++) G[ra + c] = (G[ra + c] as number) + ya * (Y[o + c] as number);
    }
  }
  for (let a = 0; a < f; a++) {
    G[a * f + a] = (G[a * f + a] as number) + reg;
    for (let c = 0; c < a; c++) G[c * f + a] = G[a * f + c] as number;
  }
  return G;
}

/**
 * x = (G + Σⱼ alpha·wⱼ yⱼyⱼᵀ)⁻¹ Σⱼ (1 + alpha·wⱼ) yⱼ over the entries s..e of (cols, w), into
 * out[at..at+f). Lower triangle only; Cholesky in place in A. O((e − s) · f² + f³).
 */
function solveRow(
  G: Float64Array,
  Y: Float64Array,
  f: number,
  alpha: number,
  cols: ArrayLike<number>,
  w: ArrayLike<number>,
  s: number,
  e: number,
  A: Float64Array,
  b: Float64Array,
  out: Float64Array,
  at: number,
): void {
  A.set(G);
  b.fill(0);
  for (let q = s; q < e; q++) {
    const wq = w[q] as number;
    if (!(wq > 0)) continue;
    const cm1 = alpha * wq;
    const o = (cols[q] as number) * f;
    for (let a = 0; a < f; a++) {
      const ya = Y[o + a] as number;
      b[a] = (b[a] as number) + (1 + cm1) * ya;
      const t = cm1 * ya;
      if (t === 0) continue;
      const ra = a * f;
      for (let c = 0; c <= a; c++) A[ra + c] = (A[ra + c] as number) + t * (Y[o + c] as number);
    }
  }
  // Cholesky: A = L Lᵀ, L in the lower triangle.
  for (let j = 0; j < f; j++) {
    const rj = j * f;
    let d = A[rj + j] as number;
    for (let k = 0; k < j; k++) d -= (A[rj + k] as number) * (A[rj + k] as number);
    // G has reg > 0 on the diagonal and the updates are positive semidefinite: d > 0 in exact arithmetic.
    const l = Math.sqrt(d > 1e-300 ? d : 1e-300);
    A[rj + j] = l;
    const inv = 1 / l;
    for (let i = j + 1; i < f; i++) {
      const ri = i * f;
      let x = A[ri + j] as number;
      for (let k = 0; k < j; k++) x -= (A[ri + k] as number) * (A[rj + k] as number);
      A[ri + j] = x * inv;
    }
  }
  // L z = b, then Lᵀ x = z.
  for (let i = 0; i < f; i++) {
    const ri = i * f;
    let x = b[i] as number;
    for (let k = 0; k < i; k++) x -= (A[ri + k] as number) * (b[k] as number);
    b[i] = x / (A[ri + i] as number);
  }
  for (let i = f - 1; i >= 0; i--) {
    let x = b[i] as number;
    for (let k = i + 1; k < f; k++) x -= (A[k * f + i] as number) * (b[k] as number);
    b[i] = x / (A[i * f + i] as number);
  }
  for (let a = 0; a < f; a++) out[at + a] = b[a] as number;
}
