/**
 * Aggregations computed per window × key. Each one keeps its numeric state in `slots`
 * Float64 slots of the cell's shared Float64Array (no object per counter, no boxed
 * doubles on the hot path) and, if it needs one, a mutable sketch object (`init` returns
 * it). Every aggregation is mergeable — sliding windows are merged from panes and session
 * windows from the sessions a bridging event joins — and saves its sketch as JSON for
 * `snapshot()`.
 *
 * Built in:
 * - `count()` → number of events;
 * - `sum(f)`, `avg(f)`, `min(f)`, `max(f)` over a numeric field; an `undefined` or NaN value
 *   is skipped (avg/min/max of no values is `null`);
 * - `distinct(f, { precision })` → estimated number of distinct values (HyperLogLog,
 *   p = 12 by default: ±1.6% standard error, ≤ 4 KiB per cell; sparse while small);
 * - `topK(f, k, { capacity })` → the k most frequent values, `[{ item, count, error }]`
 *   (Space-Saving with `capacity` counters, default max(10·k, 64): memory O(capacity) per
 *   cell, overestimate ≤ N/capacity, exact while a cell has ≤ capacity distinct values).
 *
 * Write a custom one by implementing `Aggregation` (see the method docs).
 */
import { HLL_DEFAULT_PRECISION, HyperLogLog, type HyperLogLogJson } from './hyperloglog.ts';
import { SpaceSaving, type SpaceSavingJson, type TopKEntry } from './space-saving.ts';

/** A value distinct() and topK() can count. */
export type Countable = string | number;

/**
 * An aggregation over events `E` producing `R`, with sketch state `S` (undefined for the
 * purely numeric ones). `nums[at .. at + slots)` are this aggregation's numeric slots.
 */
export interface Aggregation<E, R, S = undefined> {
  readonly kind: string;
  /** Float64 slots the aggregation needs in every cell. */
  readonly slots: number;
  /** Initialises the slots of a new cell (they start at 0) and returns its sketch state. */
  init(nums: Float64Array, at: number): S;
  /** Folds one event in (the hot path: no allocation). */
  add(event: E, nums: Float64Array, at: number, state: S): void;
  /** Folds another cell's state in (same aggregation). */
  merge(nums: Float64Array, at: number, state: S, fromNums: Float64Array, fromAt: number, fromState: S): void;
  /** The result for a cell. */
  result(nums: Float64Array, at: number, state: S): R;
  /** The sketch state as JSON (slots are saved by the aggregator). */
  save(state: S): unknown;
  /** The inverse of `save`. */
  load(json: unknown): S;
}

/** A named set of aggregations over events `E`. */
export type Aggregations<E> = Record<string, Aggregation<E, unknown, unknown>>;

/** The result type of one aggregation. */
export type ResultOf<A> = A extends Aggregation<infer _E, infer R, infer _S> ? R : never;

/** The `values` object of a window result for aggregations `A`. */
export type ValuesOf<A> = { [N in keyof A]: ResultOf<A[N]> };

/** A numeric field; `undefined` or NaN means "no value" and is skipped. */
export type NumberField<E> = (event: E) => number | undefined;

const noState = {
  save: (): unknown => null,
  load: (): undefined => undefined,
};

export function count<E = unknown>(): Aggregation<E, number> {
  return {
    kind: 'count',
    slots: 1,
    init: () => undefined,
    add(_e, nums, at) {
      nums[at]!++;
    },
    merge(nums, at, _s, from, fromAt) {
      nums[at]! += from[fromAt]!;
    },
    result: (nums, at) => nums[at]!,
    ...noState,
  };
}

export function sum<E>(field: NumberField<E>): Aggregation<E, number> {
  return {
    kind: 'sum',
    slots: 1,
    init: () => undefined,
    add(e, nums, at) {
      const v = field(e);
      if (v === undefined || v !== v) return;
      nums[at]! += v;
    },
    merge(nums, at, _s, from, fromAt) {
      nums[at]! += from[fromAt]!;
    },
    result: (nums, at) => nums[at]!,
    ...noState,
  };
}

/** Mean of the values; slots: [sum, n]. */
export function avg<E>(field: NumberField<E>): Aggregation<E, number | null> {
  return {
    kind: 'avg',
    slots: 2,
    init: () => undefined,
    add(e, nums, at) {
      const v = field(e);
      if (v === undefined || v !== v) return;
      nums[at]! += v;
      nums[at + 1]!++;
    },
    merge(nums, at, _s, from, fromAt) {
      nums[at]! += from[fromAt]!;
      nums[at + 1]! += from[fromAt + 1]!;
    },
    result: (nums, at) => (nums[at + 1] === 0 ? null : nums[at]! / nums[at + 1]!),
    ...noState,
  };
}

function extreme<E>(kind: 'min' | 'max', field: NumberField<E>): Aggregation<E, number | null> {
  const better = kind === 'min' ? (a: number, b: number) => a < b : (a: number, b: number) => a > b;
  return {
    kind,
    slots: 2, // [value, n]
    init: () => undefined,
    add(e, nums, at) {
      const v = field(e);
      if (v === undefined || v !== v) return;
      if (nums[at + 1]!++ === 0 || better(v, nums[at]!)) nums[at] = v;
    },
    merge(nums, at, _s, from, fromAt) {
      const n = from[fromAt + 1]!;
      if (n === 0) return;
      if (nums[at + 1] === 0 || better(from[fromAt]!, nums[at]!)) nums[at] = from[fromAt]!;
      nums[at + 1]! += n;
    },
    result: (nums, at) => (nums[at + 1] === 0 ? null : nums[at]!),
    ...noState,
  };
}

export function min<E>(field: NumberField<E>): Aggregation<E, number | null> {
  return extreme('min', field);
}

export function max<E>(field: NumberField<E>): Aggregation<E, number | null> {
  return extreme('max', field);
}

export interface DistinctOptions {
  /** HyperLogLog precision p (4..16; m = 2^p registers, error ≈ 1.04/√m). Default 12. */
  precision?: number;
}

/** Estimated number of distinct values of `field` (HyperLogLog); `undefined` is skipped. */
export function distinct<E>(
  field: (event: E) => Countable | undefined,
  options: DistinctOptions = {},
): Aggregation<E, number, HyperLogLog> {
  const precision = options.precision ?? HLL_DEFAULT_PRECISION;
  new HyperLogLog(precision); // validates the precision at definition time
  return {
    kind: 'distinct',
    slots: 0,
    init: () => new HyperLogLog(precision),
    add(e, _n, _a, hll) {
      const v = field(e);
      if (v !== undefined) hll.add(v);
    },
    merge(_n, _a, hll, _f, _fa, from) {
      hll.merge(from);
    },
    result: (_n, _a, hll) => Math.round(hll.estimate()),
    save: (hll) => hll.toJSON(),
    load: (json) => HyperLogLog.fromJSON(json as HyperLogLogJson),
  };
}

export interface TopKOptions {
  /** Counters kept per cell (the memory bound); default max(10·k, 64). */
  capacity?: number;
}

/** The `k` most frequent values of `field` (Space-Saving); `undefined` is skipped. */
export function topK<E, T extends Countable>(
  field: (event: E) => T | undefined,
  k: number,
  options: TopKOptions = {},
): Aggregation<E, TopKEntry<T>[], SpaceSaving<T>> {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`topK k must be a positive integer, got ${k}`);
  const capacity = options.capacity ?? Math.max(10 * k, 64);
  if (!Number.isInteger(capacity) || capacity < k)
    throw new RangeError(`topK capacity must be an integer ≥ k, got ${capacity}`);
  return {
    kind: 'topK',
    slots: 0,
    init: () => new SpaceSaving<T>(capacity),
    add(e, _n, _a, ss) {
      const v = field(e);
      if (v !== undefined) ss.add(v);
    },
    merge(_n, _a, ss, _f, _fa, from) {
      ss.merge(from);
    },
    result: (_n, _a, ss) => ss.top(k),
    save: (ss) => ss.toJSON(),
    load: (json) => SpaceSaving.fromJSON(json as SpaceSavingJson<T>),
  };
}
