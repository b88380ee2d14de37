/**
 * Internals shared by the pane engine (tumbling, sliding) and the session engine: the
 * public result/option/stat types, cells (one window-or-pane × key state), and emission.
 */
import type { Steps } from '../snapshots/steps.ts';
import type { Aggregation, Aggregations } from './aggregations.ts';
import type { WindowBounds } from './assigners.ts';

export type WindowKey = string | number;

/**
 * `eager` (default): a result when the watermark passes the window end, an updated one for
 * every late event within grace, and a closing `final` one when grace ends. `final`: only
 * the closing result (Kafka Streams' `suppress(untilWindowCloses)`).
 */
export type EmitMode = 'eager' | 'final';

/**
 * What happens when a new window × key cell would exceed `maxOpenCells`:
 * - `evict-oldest` (default): the oldest pane (tumbling: window; sliding: pane with every
 *   window containing it; session: the session due first) is fired early — its results
 *   are emitted `final` with trigger `evicted` — and freed; event time below the evicted
 *   window's end is then refused (reason `evicted`), so an emitted final result never
 *   changes. When the oldest pane is the one the event goes to, the event is refused
 *   with reason `overflow` instead.
 * - `drop-new`: the event that needs a new cell is refused with reason `overflow`.
 */
export type OverflowPolicy = 'evict-oldest' | 'drop-new';

/** Why an event went to `onLate` instead of a window. */
export type LateReason = 'window-closed' | 'evicted' | 'overflow';

/**
 * Why a result was emitted: `on-time` (watermark passed the end), `late` (a late event
 * within grace updated the window), `close` (grace ended), `flush`, `evicted` (overflow).
 */
export type EmitTrigger = 'on-time' | 'late' | 'close' | 'flush' | 'evicted';

export interface WindowResult<K extends WindowKey = WindowKey, V = Record<string, unknown>> {
  key: K;
  /** Half-open [start, end), event-time ms. */
  window: WindowBounds;
  values: V;
  /** 0 for the first result of this window × key, +1 for each later one. */
  revision: number;
  /** No further result follows for this window × key. Exactly one result per window × key is final. */
  final: boolean;
  /** Emitted because of a late event (within grace). */
  late: boolean;
  trigger: EmitTrigger;
  /** Sessions only: windows of this key emitted before that this session has absorbed (grown or merged). */
  replaces?: WindowBounds[];
}

export interface WindowStats {
  /** Events folded into a window. */
  accepted: number;
  /** Of those, events that arrived after (one of) their window(s) had fired, within grace. */
  lateAccepted: number;
  /** Events sent to onLate, by reason. */
  dropped: number;
  droppedClosed: number;
  droppedEvicted: number;
  droppedOverflow: number;
  /** Times the overflow policy evicted a pane or session. */
  evictions: number;
  /** Results emitted. */
  results: number;
  /** Open window-or-pane × key cells (sessions: open sessions). */
  openCells: number;
}

export function emptyStats(): WindowStats {
  return {
    accepted: 0,
    lateAccepted: 0,
    dropped: 0,
    droppedClosed: 0,
    droppedEvicted: 0,
    droppedOverflow: 0,
    evictions: 0,
    results: 0,
    openCells: 0,
  };
}

/** The state of one window-or-pane × key: numeric slots plus one sketch per aggregation. */
export interface Cell<K> {
  readonly key: K;
  readonly nums: Float64Array;
  readonly objs: unknown[];
  /** Revision last emitted for this cell's window (tumbling, sessions); −1 = none yet. */
  rev: number;
}

export interface CellJson<K> {
  k: K;
  n: (number | string)[];
  o: unknown[];
  r: number;
}

/** JSON has no ±Infinity/NaN; min/max slots and watermarks need them. */
export function encodeNumber(n: number): number | string {
  return Number.isFinite(n) ? n : String(n);
}

export function decodeNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v === 'Infinity' || v === '-Infinity' || v === 'NaN') return Number(v);
  throw new TypeError(`snapshot: expected a number, got ${JSON.stringify(v)}`);
}

/** The aggregation set, laid out once: names, slot offsets, and the per-cell operations. */
export class AggregationSet<E> {
  readonly names: string[];
  readonly aggs: Aggregation<E, unknown, unknown>[];
  readonly offsets: number[];
  readonly slots: number;

  constructor(aggregations: Aggregations<E>) {
    this.names = Object.keys(aggregations);
    if (this.names.length === 0) throw new RangeError('at least one aggregation is required');
    this.aggs = this.names.map((n) => aggregations[n]!);
    this.offsets = [];
    let at = 0;
    for (const a of this.aggs) {
      this.offsets.push(at);
      at += a.slots;
    }
    this.slots = at;
    this.add = this.#adder();
  }

  /** The layout signature checked by `restore()`. */
  get signature(): string {
    return this.names.map((n, i) => `${n}:${this.aggs[i]!.kind}`).join(',');
  }

  cell<K>(key: K): Cell<K> {
    const nums = new Float64Array(this.slots);
    const objs: unknown[] = [];
    for (let i = 0; i < this.aggs.length; i++) objs.push(this.aggs[i]!.init(nums, this.offsets[i]!));
    return { key, nums, objs, rev: -1 };
  }

  /**
   * Folds an event into a cell. Unrolled for up to 4 aggregations: each call site then
   * sees one aggregation (monomorphic, inlinable) instead of all of them through a loop's
   * single megamorphic site.
   */
  readonly add: (cell: Cell<unknown>, event: E) => void;

  #adder(): (cell: Cell<unknown>, event: E) => void {
    const [a0, a1, a2, a3] = this.aggs;
    const [o0, o1, o2, o3] = this.offsets;
    switch (this.aggs.length) {
      case 1:
        return (c, e) => a0!.add(e, c.nums, o0!, c.objs[0]);
      case 2:
        return (c, e) => {
          a0!.add(e, c.nums, o0!, c.objs[0]);
          a1!.add(e, c.nums, o1!, c.objs[1]);
        };
      case 3:
        return (c, e) => {
          a0!.add(e, c.nums, o0!, c.objs[0]);
          a1!.add(e, c.nums, o1!, c.objs[1]);
          a2!.add(e, c.nums, o2!, c.objs[2]);
        };
      case 4:
        return (c, e) => {
          a0!.add(e, c.nums, o0!, c.objs[0]);
          a1!.add(e, c.nums, o1!, c.objs[1]);
          a2!.add(e, c.nums, o2!, c.objs[2]);
          a3!.add(e, c.nums, o3!, c.objs[3]);
        };
      default: {
        const aggs = this.aggs;
        const offsets = this.offsets;
        return (c, e) => {
          for (let i = 0; i < aggs.length; i++) aggs[i]!.add(e, c.nums, offsets[i]!, c.objs[i]);
        };
      }
    }
  }

  merge<K>(into: Cell<K>, from: Cell<K>): void {
    for (let i = 0; i < this.aggs.length; i++) {
      const at = this.offsets[i]!;
      this.aggs[i]!.merge(into.nums, at, into.objs[i], from.nums, at, from.objs[i]);
    }
  }

  values<K>(cell: Cell<K>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < this.aggs.length; i++)
      out[this.names[i]!] = this.aggs[i]!.result(cell.nums, this.offsets[i]!, cell.objs[i]);
    return out;
  }

  save<K>(cell: Cell<K>): CellJson<K> {
    return {
      k: cell.key,
      n: Array.from(cell.nums, encodeNumber),
      o: this.aggs.map((a, i) => a.save(cell.objs[i])),
      r: cell.rev,
    };
  }

  load<K>(json: CellJson<K>): Cell<K> {
    const nums = Float64Array.from(json.n, decodeNumber);
    if (nums.length !== this.slots)
      throw new RangeError(`snapshot: cell has ${nums.length} slots, expected ${this.slots}`);
    return { key: json.k, nums, objs: this.aggs.map((a, i) => a.load(json.o[i])), rev: json.r };
  }
}

/** What an engine needs from the aggregator: configuration, stats and the two outputs. */
export interface EngineContext<E, K extends WindowKey> {
  readonly aggs: AggregationSet<E>;
  readonly key: (event: E) => K;
  readonly outOfOrdernessMs: number;
  readonly graceMs: number;
  readonly eager: boolean;
  readonly maxOpenCells: number;
  readonly evictOldest: boolean;
  readonly stats: WindowStats;
  emit(
    key: K,
    start: number,
    end: number,
    cell: Cell<K>,
    revision: number,
    final: boolean,
    trigger: EmitTrigger,
    replaces?: WindowBounds[],
  ): void;
  drop(event: E, eventTimeMs: number, reason: LateReason): void;
}

export interface Engine<E> {
  readonly watermark: number;
  add(event: E, eventTimeMs: number): void;
  advance(watermark: number, flush: boolean): void;
  snapshot(): unknown;
  /** `snapshot()` in steps (snapshots/steps.ts). */
  snapshotSteps(): Steps<unknown>;
  restore(json: unknown): void;
  /** Drops every open cell of `key` without emitting it, and what is remembered of the key (GDPR erasure). */
  forget(key: WindowKey): void;
}

export function checkTime(t: number): void {
  if (!Number.isFinite(t)) throw new RangeError(`event time must be a finite number of ms, got ${t}`);
}
