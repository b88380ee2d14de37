/**
 * Tumbling and sliding windows over panes. A pane is [s, s + gcd(size, slide)); an event
 * updates exactly one pane × key cell; a sliding window's result is the merge of its
 * panes when it is emitted (a tumbling window is its single pane, emitted as is).
 *
 * Watermark W (monotonic; max event time − outOfOrderness, or advanceWatermark()).
 * Window [start, end), grace g:
 * - W < end: open; events fold in silently;
 * - W ≥ end: fired (on-time result; `final` when g = 0). An event arriving now (end ≤ W <
 *   end + g) is late-but-accepted: it folds in and, in eager mode, re-emits the window for
 *   its key with revision + 1, `late: true`;
 * - W ≥ end + g: closed (`final` result; in eager mode with g > 0 that is one more result
 *   with trigger `close`), then purged with its panes once no open window needs them. An
 *   event whose windows are all closed goes to onLate('window-closed').
 * Firing is checked only when W crosses the next window end / close on the grid, so the
 * per-event cost is O(1) amortized.
 */
import { checkpoint, runSteps, type Steps } from '../snapshots/steps.ts';
import { mod, gcd, type SlidingWindows, type TumblingWindows } from './assigners.ts';
import {
  checkTime,
  decodeNumber,
  encodeNumber,
  type Cell,
  type CellJson,
  type Engine,
  type EngineContext,
  type WindowKey,
} from './core.ts';

interface Pane<K> {
  readonly start: number;
  readonly end: number;
  /** End of the first (earliest-ending) window containing the pane: fired once W ≥ this. */
  readonly firstEnd: number;
  readonly cells: Map<K, Cell<K>>;
}

export interface PaneSnapshot<K> {
  kind: 'tumbling' | 'sliding';
  sizeMs: number;
  slideMs: number;
  offsetMs: number;
  watermark: number | string;
  maxEventTime: number | string;
  floor: number | string;
  panes: { start: number; cells: CellJson<K>[] }[];
  revisions: [number, [K, number][]][];
}

export class PaneEngine<E, K extends WindowKey> implements Engine<E> {
  readonly #c: EngineContext<E, K>;
  readonly #kind: 'tumbling' | 'sliding';
  readonly #size: number;
  readonly #slide: number;
  readonly #paneMs: number;
  readonly #offset: number;
  readonly #grace: number;
  readonly #ooo: number;
  readonly #tumbling: boolean;
  readonly #key: (event: E) => K;
  readonly #panes = new Map<number, Pane<K>>();
  /** Panes by start, ascending. */
  #order: Pane<K>[] = [];
  #last: Pane<K> | undefined;
  #wm = -Infinity;
  #maxT = -Infinity;
  /** Event time below this was evicted (overflow): windows starting below it are closed. */
  #floor = -Infinity;
  /** The next watermark at which some window on the grid fires or closes. */
  #nextDue = -Infinity;
  /** Sliding only: last revision emitted per fired-but-open window × key. */
  readonly #revs = new Map<number, Map<K, number>>();

  constructor(window: TumblingWindows | SlidingWindows, c: EngineContext<E, K>) {
    this.#c = c;
    this.#kind = window.kind;
    this.#size = window.sizeMs;
    this.#slide = window.kind === 'sliding' ? window.slideMs : window.sizeMs;
    this.#paneMs = gcd(this.#size, this.#slide);
    this.#offset = window.offsetMs;
    this.#grace = c.graceMs;
    this.#ooo = c.outOfOrdernessMs;
    this.#tumbling = this.#paneMs === this.#size;
    this.#key = c.key;
  }

  get watermark(): number {
    return this.#wm;
  }

  add(event: E, t: number): void {
    if (!(t >= this.#floor)) {
      checkTime(t);
      this.#c.drop(event, t, 'evicted');
      return;
    }
    let pane = this.#last;
    if (pane === undefined || t < pane.start || t >= pane.end) {
      pane = this.#paneFor(event, t);
      if (pane === undefined) return;
    }
    const key = this.#key(event);
    let cell = pane.cells.get(key);
    if (cell === undefined) {
      cell = this.#newCell(pane, key, event, t);
      if (cell === undefined) return;
    }
    this.#c.aggs.add(cell, event);
    this.#c.stats.accepted++;
    if (pane.firstEnd <= this.#wm) this.#late(pane, cell);
    if (t > this.#maxT) {
      this.#maxT = t;
      const w = t - this.#ooo;
      if (w > this.#wm) this.advance(w, false);
    }
  }

  advance(w: number, flush: boolean): void {
    if (!(w > this.#wm)) return;
    const old = this.#wm;
    this.#wm = w;
    if (w < this.#nextDue) return;
    this.#process(old, w, flush);
    this.#nextDue = this.#computeNextDue(w);
  }

  /** Largest window start ≤ t on the slide grid. */
  #alignDown(t: number): number {
    return t - mod(t - this.#offset, this.#slide);
  }

  /** Smallest window end on the grid that is > x. */
  #nextEnd(x: number): number {
    return x + this.#slide - mod(x - this.#offset - this.#size, this.#slide);
  }

  #computeNextDue(w: number): number {
    if (!Number.isFinite(w)) return Infinity;
    return Math.min(this.#nextEnd(w), this.#nextEnd(w - this.#grace) + this.#grace);
  }

  /** Start of the first window containing the pane starting at ps. */
  #firstWindowOf(ps: number): number {
    const last = this.#alignDown(ps);
    return last - Math.floor((last - ps - this.#paneMs + this.#size) / this.#slide) * this.#slide;
  }

  #paneFor(event: E, t: number): Pane<K> | undefined {
    checkTime(t);
    const ps = t - mod(t - this.#offset, this.#paneMs);
    let pane = this.#panes.get(ps);
    if (pane === undefined) {
      const lastWs = this.#alignDown(ps);
      if (lastWs < this.#floor) {
        this.#c.drop(event, t, 'evicted');
        return undefined;
      }
      if (lastWs + this.#size + this.#grace <= this.#wm) {
        this.#c.drop(event, t, 'window-closed');
        return undefined;
      }
      pane = {
        start: ps,
        end: ps + this.#paneMs,
        firstEnd: this.#firstWindowOf(ps) + this.#size,
        cells: new Map(),
      };
      this.#panes.set(ps, pane);
      const order = this.#order;
      let i = order.length;
      while (i > 0 && order[i - 1]!.start > ps) i--;
      if (i === order.length) order.push(pane);
      else order.splice(i, 0, pane);
    }
    this.#last = pane;
    return pane;
  }

  #newCell(pane: Pane<K>, key: K, event: E, t: number): Cell<K> | undefined {
    const c = this.#c;
    if (c.stats.openCells >= c.maxOpenCells) {
      if (!c.evictOldest) {
        c.drop(event, t, 'overflow');
        return undefined;
      }
      while (c.stats.openCells >= c.maxOpenCells && this.#order.length > 0 && this.#order[0] !== pane)
        this.#evictOldest();
      if (this.#panes.get(pane.start) !== pane) {
        c.drop(event, t, 'evicted');
        return undefined;
      }
      if (c.stats.openCells >= c.maxOpenCells) {
        c.drop(event, t, 'overflow');
        return undefined;
      }
    }
    const cell = c.aggs.cell(key);
    pane.cells.set(key, cell);
    c.stats.openCells++;
    return cell;
  }

  #evictOldest(): void {
    const p0 = this.#order[0]!;
    this.#c.stats.evictions++;
    const lastWs = this.#alignDown(p0.start);
    for (
      let ws = Math.max(this.#firstWindowOf(p0.start), this.#alignUp(this.#floor));
      ws <= lastWs;
      ws += this.#slide
    ) {
      if (ws + this.#size + this.#grace <= this.#wm) continue; // already closed
      this.#emitWindow(ws, true, 'evicted');
    }
    this.#floor = p0.end;
    for (const ws of this.#revs.keys()) if (ws < this.#floor) this.#revs.delete(ws);
    this.#purge((p) => this.#alignDown(p.start) < this.#floor);
  }

  /** Smallest window start ≥ x on the grid (x may be −∞). */
  #alignUp(x: number): number {
    return Number.isFinite(x) ? x + mod(this.#offset - x, this.#slide) : x;
  }

  #purge(done: (p: Pane<K>) => boolean): void {
    const order = this.#order;
    let n = 0;
    while (n < order.length && done(order[n]!)) {
      const p = order[n]!;
      this.#panes.delete(p.start);
      this.#c.stats.openCells -= p.cells.size;
      if (this.#last === p) this.#last = undefined;
      n++;
    }
    if (n > 0) order.splice(0, n);
  }

  /** A late event (its pane is in an already fired window) folded into `cell`. */
  #late(pane: Pane<K>, cell: Cell<K>): void {
    this.#c.stats.lateAccepted++;
    if (!this.#c.eager) return;
    const w = this.#wm;
    if (this.#tumbling) {
      cell.rev++;
      this.#c.emit(cell.key, pane.start, pane.end, cell, cell.rev, false, 'late');
      return;
    }
    const lastWs = this.#alignDown(pane.start);
    for (
      let ws = Math.max(this.#firstWindowOf(pane.start), this.#alignUp(this.#floor));
      ws <= lastWs;
      ws += this.#slide
    ) {
      const end = ws + this.#size;
      if (end > w) break;
      if (end + this.#grace <= w) continue;
      const merged = this.#c.aggs.cell(cell.key);
      for (const p of this.#panesOf(ws)) {
        const from = p.cells.get(cell.key);
        if (from !== undefined) this.#c.aggs.merge(merged, from);
      }
      let revs = this.#revs.get(ws);
      if (revs === undefined) this.#revs.set(ws, (revs = new Map<K, number>()));
      const rev = (revs.get(cell.key) ?? -1) + 1;
      revs.set(cell.key, rev);
      this.#c.emit(cell.key, ws, end, merged, rev, false, 'late');
    }
  }

  /** The panes of window [ws, ws + size), ascending. */
  #panesOf(ws: number): Pane<K>[] {
    const order = this.#order;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order[mid]!.start < ws) lo = mid + 1;
      else hi = mid;
    }
    const out: Pane<K>[] = [];
    const end = ws + this.#size;
    for (let i = lo; i < order.length && order[i]!.start < end; i++) out.push(order[i]!);
    return out;
  }

  /** Emits window [ws, ws + size) for every key it holds. */
  #emitWindow(ws: number, final: boolean, trigger: 'on-time' | 'close' | 'flush' | 'evicted'): void {
    const end = ws + this.#size;
    const c = this.#c;
    if (this.#tumbling) {
      const pane = this.#panes.get(ws);
      if (pane === undefined) return;
      for (const cell of pane.cells.values()) {
        cell.rev++;
        c.emit(cell.key, ws, end, cell, cell.rev, final, trigger);
      }
      return;
    }
    const merged = new Map<K, Cell<K>>();
    for (const p of this.#panesOf(ws)) {
      for (const from of p.cells.values()) {
        let into = merged.get(from.key);
        if (into === undefined) merged.set(from.key, (into = c.aggs.cell(from.key)));
        c.aggs.merge(into, from);
      }
    }
    let revs = this.#revs.get(ws);
    for (const cell of merged.values()) {
      const rev = (revs?.get(cell.key) ?? -1) + 1;
      if (!final) {
        if (revs === undefined) this.#revs.set(ws, (revs = new Map<K, number>()));
        revs.set(cell.key, rev);
      }
      c.emit(cell.key, ws, end, cell, rev, final, trigger);
    }
    if (final) this.#revs.delete(ws);
  }

  /** Fires windows with end in (old, w] and closes those with end + grace in (old, w]. */
  #process(old: number, w: number, flush: boolean): void {
    const size = this.#size;
    const slide = this.#slide;
    const grace = this.#grace;
    const eager = this.#c.eager;
    const lo = old - grace;
    const order = this.#order;
    let nextWs = -Infinity;
    outer: for (let i = 0; i < order.length; i++) {
      const p = order[i]!;
      const lastWs = this.#alignDown(p.start);
      let ws = Math.max(this.#firstWindowOf(p.start), nextWs, this.#alignUp(this.#floor));
      if (lo > -Infinity && ws + size <= lo) ws = this.#nextEnd(lo) - size;
      for (; ws <= lastWs; ws += slide) {
        const end = ws + size;
        if (end > w) break outer;
        nextWs = ws + slide;
        const closes = end + grace <= w;
        if (end <= old) {
          if (closes) this.#emitWindow(ws, true, flush ? 'flush' : 'close');
        } else if (closes) this.#emitWindow(ws, true, flush ? 'flush' : 'on-time');
        else if (eager) this.#emitWindow(ws, false, flush ? 'flush' : 'on-time');
      }
    }
    this.#purge((p) => this.#alignDown(p.start) + size + grace <= w);
  }

  forget(key: WindowKey): void {
    for (const pane of this.#order) if (pane.cells.delete(key as K)) this.#c.stats.openCells--;
    for (const revs of this.#revs.values()) revs.delete(key as K);
  }

  snapshot(): PaneSnapshot<K> {
    return runSteps(this.snapshotSteps());
  }

  /** `snapshot()` in steps (snapshots/steps.ts): a checkpoint every few hundred cells. */
  *snapshotSteps(): Steps<PaneSnapshot<K>> {
    const panes: PaneSnapshot<K>['panes'] = [];
    let n = 0;
    for (const p of [...this.#order]) {
      const cells: CellJson<K>[] = [];
      for (const cell of [...p.cells.values()]) {
        cells.push(this.#c.aggs.save(cell));
        if (checkpoint(n++)) yield;
      }
      panes.push({ start: p.start, cells });
    }
    return {
      kind: this.#kind,
      sizeMs: this.#size,
      slideMs: this.#slide,
      offsetMs: this.#offset,
      watermark: encodeNumber(this.#wm),
      maxEventTime: encodeNumber(this.#maxT),
      floor: encodeNumber(this.#floor),
      panes,
      revisions: [...this.#revs].map(([ws, m]) => [ws, [...m]]),
    };
  }

  restore(json: unknown): void {
    const s = json as PaneSnapshot<K>;
    if (
      s.kind !== this.#kind ||
      s.sizeMs !== this.#size ||
      s.slideMs !== this.#slide ||
      s.offsetMs !== this.#offset
    ) {
      throw new RangeError(
        `snapshot is for ${s.kind}(${s.sizeMs}, ${s.slideMs}, offset ${s.offsetMs}), not ${this.#kind}(${this.#size}, ${this.#slide}, offset ${this.#offset})`,
      );
    }
    this.#panes.clear();
    this.#order = [];
    this.#last = undefined;
    this.#revs.clear();
    let cells = 0;
    for (const p of [...s.panes].sort((a, b) => a.start - b.start)) {
      const pane: Pane<K> = {
        start: p.start,
        end: p.start + this.#paneMs,
        firstEnd: this.#firstWindowOf(p.start) + this.#size,
        cells: new Map(),
      };
      for (const cj of p.cells) pane.cells.set(cj.k, this.#c.aggs.load(cj));
      cells += pane.cells.size;
      this.#panes.set(pane.start, pane);
      this.#order.push(pane);
    }
    for (const [ws, entries] of s.revisions) this.#revs.set(ws, new Map(entries));
    this.#wm = decodeNumber(s.watermark);
    this.#maxT = decodeNumber(s.maxEventTime);
    this.#floor = decodeNumber(s.floor);
    // A watermark of −∞ (nothing seen yet) has nothing due before the first event: −∞, as a new engine.
    this.#nextDue = this.#wm === -Infinity ? -Infinity : this.#computeNextDue(this.#wm);
    this.#c.stats.openCells = cells;
  }
}
