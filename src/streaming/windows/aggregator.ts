/**
 * Event-time windowed aggregation, keyed (a pure library: no I/O, no clock).
 *
 * ```ts
 * const agg = new WindowedAggregator({
 *   window: tumbling(60_000),
 *   key: (e: Play) => e.trackId,
 *   aggregations: { plays: count(), listeners: distinct((e: Play) => e.userId), avgMs: avg((e: Play) => e.playedMs) },
 *   outOfOrdernessMs: 5_000, graceMs: 60_000,
 *   onResult: (r) => …, onLate: (e, reason, t) => …,
 * });
 * // Annotate the extractors' parameter: TypeScript does not carry E from `key` into the
 * // aggregation calls of the same object literal.
 * agg.add(play, play.ts);          // hot path
 * agg.advanceWatermark(ts);        // idle source: move event time explicitly
 * agg.flush();                     // shutdown: every open window emits its final result
 * const snap = agg.snapshot();     // JSON-serializable; new WindowedAggregator(same options).restore(snap)
 * ```
 *
 * Time. Event time comes only from `add(event, eventTimeMs)` and `advanceWatermark()`.
 * The watermark W is monotonic: W = max(W, max event time seen − outOfOrdernessMs,
 * any advanceWatermark(ts)); it starts at −∞. W means "no events before W are expected":
 * an event with t ≥ W is on time.
 *
 * Lifecycle of a window [start, end) × key, grace g = `graceMs` (Flink's allowed lateness):
 * 1. W < end: open, events fold in silently.
 * 2. W ≥ end: fired — in `emit: 'eager'` mode (default) a result with revision 0, trigger
 *    `on-time`, `final: g === 0`. A late event now (end ≤ W < end + g) folds in and re-emits
 *    the window for its key (revision + 1, `late: true`, trigger `late`).
 * 3. W ≥ end + g: closed — a `final: true` result (trigger `close`; if the window fired and
 *    closed in the same watermark step there is a single result with trigger `on-time`),
 *    then the state is purged. So every window × key gets exactly one `final` result, and
 *    it is the last one. In `emit: 'final'` mode that final result is the only one.
 * 4. An event for a closed window never changes a result: it goes to `onLate(event,
 *    'window-closed', t)` and `stats.droppedClosed` (the count is kept without `onLate`).
 * `flush()` moves W to +∞ (every open window emits its final result, trigger `flush`); the
 * aggregator then refuses every event as `window-closed`.
 *
 * Result: `{ key, window: { start, end }, values, revision, final, late, trigger,
 * replaces? }` (`WindowResult`); `values` has one entry per aggregation, typed from it:
 * count/sum → number, avg/min/max → number | null, distinct → number,
 * topK → `[{ item, count, error }]`. `replaces` (sessions only) lists windows emitted
 * before that a grown or merged session supersedes.
 *
 * Sessions (see session-engine.ts): an event joins every session of its key it overlaps
 * (half-open [t, t + gap)); a late event can bridge two sessions into one, whose result
 * lists the superseded windows in `replaces` and continues their revision count. An event
 * that would reach into a closed session of its key is refused (`window-closed`).
 *
 * Order: within one watermark step, results come by window end (sessions: by the time
 * they were due, then creation order), and per window in the order its keys first
 * appeared.
 *
 * Bounds: at most `maxOpenCells` (default 100,000) window-or-pane × key cells (sessions:
 * open sessions) are held; on overflow the `overflow` policy applies (see
 * `OverflowPolicy`: default `evict-oldest` fires the oldest pane early, `drop-new` refuses
 * the event). Each cell holds the aggregations' own bounded state (HyperLogLog ≤ 2^p bytes,
 * Space-Saving ≤ capacity counters). Not counted in the bound: sliding windows allocate
 * their merged window cells transiently when they emit, revision numbers are kept per
 * fired-but-open sliding window × key, and sessions keep one tombstone (a number) per key
 * whose last session closed less than gap + grace ago or that still has an open session.
 *
 * Cost: `add` is O(1) amortized per event (one pane × key cell; sliding windows merge
 * their size/slide panes once per emission, not per event); no allocation per event
 * beyond a new cell. `onResult`/`onLate` run synchronously inside `add`/`advanceWatermark`/
 * `flush` and must not call back into the same aggregator.
 */
import { runSteps, type Steps } from '../snapshots/steps.ts';
import type { Aggregations, ValuesOf } from './aggregations.ts';
import type { WindowAssigner, WindowBounds } from './assigners.ts';
import {
  AggregationSet,
  emptyStats,
  type EmitMode,
  type EmitTrigger,
  type Engine,
  type EngineContext,
  type LateReason,
  type OverflowPolicy,
  type WindowKey,
  type WindowResult,
  type WindowStats,
} from './core.ts';
import { PaneEngine } from './pane-engine.ts';
import { SessionEngine } from './session-engine.ts';

export const DEFAULT_MAX_OPEN_CELLS = 100_000;

export interface WindowedAggregatorOptions<E, K extends WindowKey, A extends Aggregations<E>> {
  window: WindowAssigner;
  /** The grouping key of an event. */
  key: (event: E) => K;
  aggregations: A;
  /** Bounded out-of-orderness: W = max event time − this. Default 0. */
  outOfOrdernessMs?: number;
  /** How long after W passes a window's end it still takes late events. Default 0. */
  graceMs?: number;
  /** Default `eager`. */
  emit?: EmitMode;
  /** Default 100,000. */
  maxOpenCells?: number;
  /** Default `evict-oldest`. */
  overflow?: OverflowPolicy;
  onResult: (result: WindowResult<K, ValuesOf<A>>) => void;
  /** Events no window takes (closed, evicted, overflow). They are counted in `stats` either way. */
  onLate?: (event: E, reason: LateReason, eventTimeMs: number) => void;
}

export interface WindowedAggregatorSnapshot {
  version: 1;
  aggregations: string;
  graceMs: number;
  stats: WindowStats;
  engine: unknown;
}

function nonNegative(name: string, v: number): number {
  if (!(v >= 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a finite number ≥ 0, got ${v}`);
  return v;
}

export class WindowedAggregator<E, K extends WindowKey, A extends Aggregations<E>> {
  readonly #engine: Engine<E>;
  readonly #aggs: AggregationSet<E>;
  readonly #grace: number;
  readonly #stats = emptyStats();

  constructor(options: WindowedAggregatorOptions<E, K, A>) {
    const aggs = new AggregationSet<E>(options.aggregations);
    this.#aggs = aggs;
    const stats = this.#stats;
    const onResult = options.onResult;
    const onLate = options.onLate;
    const maxOpenCells = options.maxOpenCells ?? DEFAULT_MAX_OPEN_CELLS;
    if (!Number.isSafeInteger(maxOpenCells) || maxOpenCells < 1)
      throw new RangeError(`maxOpenCells must be a positive integer, got ${maxOpenCells}`);
    const overflow = options.overflow ?? 'evict-oldest';
    if (overflow !== 'evict-oldest' && overflow !== 'drop-new')
      throw new RangeError(`unknown overflow policy ${String(overflow)}`);
    const emitMode = options.emit ?? 'eager';
    if (emitMode !== 'eager' && emitMode !== 'final')
      throw new RangeError(`unknown emit mode ${String(emitMode)}`);
    this.#grace = nonNegative('graceMs', options.graceMs ?? 0);
    const ctx: EngineContext<E, K> = {
      aggs,
      key: options.key,
      outOfOrdernessMs: nonNegative('outOfOrdernessMs', options.outOfOrdernessMs ?? 0),
      graceMs: this.#grace,
      eager: emitMode === 'eager',
      maxOpenCells,
      evictOldest: overflow === 'evict-oldest',
      stats,
      emit(key, start, end, cell, revision, final, trigger: EmitTrigger, replaces?: WindowBounds[]) {
        const result: WindowResult<K, ValuesOf<A>> = {
          key,
          window: { start, end },
          values: aggs.values(cell) as ValuesOf<A>,
          revision,
          final,
          late: trigger === 'late',
          trigger,
        };
        if (replaces !== undefined && replaces.length > 0) result.replaces = replaces;
        stats.results++;
        onResult(result);
      },
      drop(event, t, reason) {
        stats.dropped++;
        if (reason === 'window-closed') stats.droppedClosed++;
        else if (reason === 'evicted') stats.droppedEvicted++;
        else stats.droppedOverflow++;
        onLate?.(event, reason, t);
      },
    };
    const w = options.window;
    this.#engine = w.kind === 'session' ? new SessionEngine<E, K>(w, ctx) : new PaneEngine<E, K>(w, ctx);
  }

  /** Folds `event` at event time `eventTimeMs` into its window(s); may emit results. */
  add(event: E, eventTimeMs: number): void {
    this.#engine.add(event, eventTimeMs);
  }

  /** Moves the watermark to `ts` if that is later (monotonic); fires what is due. Returns the watermark. */
  advanceWatermark(ts: number): number {
    if (Number.isNaN(ts)) throw new RangeError('watermark must be a number');
    this.#engine.advance(ts, false);
    return this.#engine.watermark;
  }

  /** Ends event time: every open window emits its final result (trigger `flush`). */
  flush(): void {
    this.#engine.advance(Infinity, true);
  }

  /**
   * Drops every open window or session of `key` without a result, and whatever the engine
   * remembers of the key (session tombstones): a GDPR erasure of a user keyed windows.
   * Results already emitted are the caller's; distinct-count sketches keep no keys.
   */
  forgetKey(key: K): void {
    this.#engine.forget(key);
  }

  /** The current watermark (−∞ before any event). */
  get watermark(): number {
    return this.#engine.watermark;
  }

  /** Counters (a live object; copy it to keep a reading). */
  get stats(): Readonly<WindowStats> {
    return this.#stats;
  }

  /** The whole state as JSON-serializable data. */
  snapshot(): WindowedAggregatorSnapshot {
    return runSteps(this.snapshotSteps());
  }

  /** `snapshot()` in steps (snapshots/steps.ts). */
  *snapshotSteps(): Steps<WindowedAggregatorSnapshot> {
    const stats = { ...this.#stats };
    return {
      version: 1,
      aggregations: this.#aggs.signature,
      graceMs: this.#grace,
      stats,
      engine: yield* this.#engine.snapshotSteps(),
    };
  }

  /** Replaces the state with a snapshot taken from an aggregator with the same window and aggregations. */
  restore(snapshot: WindowedAggregatorSnapshot): void {
    if (snapshot.version !== 1) throw new RangeError(`unknown snapshot version ${String(snapshot.version)}`);
    if (snapshot.aggregations !== this.#aggs.signature) {
      throw new RangeError(
        `snapshot aggregations ${snapshot.aggregations} do not match ${this.#aggs.signature}`,
      );
    }
    this.#engine.restore(snapshot.engine);
    const openCells = this.#stats.openCells;
    Object.assign(this.#stats, snapshot.stats, { openCells });
  }
}
