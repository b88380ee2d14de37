/**
 * Session windows, per key. An event at t has the window [t, t + gap); it joins every
 * session of its key whose window overlaps that one (half-open: start < t + gap and
 * t < end), merging them — states merged, bounds the union — so a late event can bridge
 * two sessions. Sessions of a key are kept sorted and disjoint.
 *
 * Firing, with watermark W and grace g, as for the other windows: a session fires when
 * W ≥ end and closes (final result, purged) when W ≥ end + g. An event joining a fired
 * session is late-but-accepted: if the merged session still ends ≤ W it is re-emitted at
 * once (eager mode, `late: true`, revision + 1); if the event pushed the end past W the
 * session is open again and fires when W reaches the new end. A result for a session
 * whose bounds changed since it was last emitted lists the earlier windows in `replaces`.
 * An event whose own window [t, t + gap) is closed (t + gap + g ≤ W) and that joins no
 * open session goes to onLate('window-closed'), and so does an event earlier than the end
 * of a closed session of its key (it would overlap, i.e. change, a final result): each
 * key keeps the end of its last closed session as a tombstone until W passes
 * end + gap + g while the key has no open session — after that such an event is refused
 * by the first rule anyway (an open session could still reach back to it by merging, so
 * the tombstone stays as long as the key has one; its close replaces the tombstone).
 *
 * Sessions due to fire/close sit in an indexed min-heap on their due time, so each
 * watermark step costs O(log sessions) per session that fires.
 */
import { checkpoint, runSteps, type Steps } from '../snapshots/steps.ts';
import type { SessionWindows, WindowBounds } from './assigners.ts';
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

interface Session<K> {
  readonly key: K;
  start: number;
  end: number;
  readonly cell: Cell<K>;
  /** The watermark has passed `end` (an on-time result was due). */
  fired: boolean;
  /** The current bounds have been emitted. */
  shown: boolean;
  /** Earlier emitted bounds this session absorbed, for the next result's `replaces`. */
  replaces: WindowBounds[] | undefined;
  /** Heap index. */
  hi: number;
  /** Creation order: breaks ties between equal due times, so emission order is deterministic (and survives restore). */
  readonly seq: number;
}

export interface SessionSnapshot<K> {
  kind: 'session';
  gapMs: number;
  watermark: number | string;
  maxEventTime: number | string;
  floor: number | string;
  seq: number;
  /** [expiry, key, end] of the closed-session tombstones. */
  tombstones: [number, K, number][];
  sessions: {
    seq: number;
    start: number;
    end: number;
    fired: boolean;
    shown: boolean;
    replaces?: WindowBounds[];
    cell: CellJson<K>;
  }[];
}

export class SessionEngine<E, K extends WindowKey> implements Engine<E> {
  readonly #c: EngineContext<E, K>;
  readonly #gap: number;
  readonly #grace: number;
  readonly #ooo: number;
  readonly #key: (event: E) => K;
  readonly #byKey = new Map<K, Session<K>[]>();
  #heap: Session<K>[] = [];
  #wm = -Infinity;
  #maxT = -Infinity;
  #floor = -Infinity;
  #seq = 0;
  /** Per key, the latest end of a closed session (see the header). */
  readonly #closedEnd = new Map<K, number>();
  /** Tombstone expiries, ascending: [expiry, key, end]. */
  #expiries: [number, K, number][] = [];
  #expiryHead = 0;

  constructor(window: SessionWindows, c: EngineContext<E, K>) {
    this.#c = c;
    this.#gap = window.gapMs;
    this.#grace = c.graceMs;
    this.#ooo = c.outOfOrdernessMs;
    this.#key = c.key;
  }

  get watermark(): number {
    return this.#wm;
  }

  #due(s: Session<K>): number {
    return s.fired ? s.end + this.#grace : s.end;
  }

  add(event: E, t: number): void {
    checkTime(t);
    const c = this.#c;
    if (t < this.#floor) {
      c.drop(event, t, 'evicted');
      return;
    }
    const key = this.#key(event);
    const we = t + this.#gap;
    let list = this.#byKey.get(key);
    // Overlapping sessions form the run [i, j) of the sorted, disjoint list.
    let i = 0;
    let j = 0;
    if (list !== undefined) {
      i = list.length;
      while (i > 0 && list[i - 1]!.end > t) i--;
      j = i;
      while (j < list.length && list[j]!.start < we) j++;
    }
    if (t < (this.#closedEnd.get(key) ?? -Infinity)) {
      c.drop(event, t, 'window-closed');
      return;
    }
    let s: Session<K>;
    if (i === j) {
      if (we + this.#grace <= this.#wm) {
        c.drop(event, t, 'window-closed');
        return;
      }
      if (c.stats.openCells >= c.maxOpenCells) {
        if (!c.evictOldest) {
          c.drop(event, t, 'overflow');
          return;
        }
        while (c.stats.openCells >= c.maxOpenCells && this.#heap.length > 0) this.#evictFirst();
        if (t < this.#floor) {
          c.drop(event, t, 'evicted');
          return;
        }
        // The list may have lost sessions: find the insertion point again.
        list = this.#byKey.get(key);
        i = 0;
        if (list !== undefined) {
          i = list.length;
          while (i > 0 && list[i - 1]!.start > t) i--;
        }
      }
      s = {
        key,
        start: t,
        end: we,
        cell: c.aggs.cell(key),
        fired: false,
        shown: false,
        replaces: undefined,
        hi: -1,
        seq: this.#seq++,
      };
      if (list === undefined) this.#byKey.set(key, (list = [s]));
      else list.splice(i, 0, s);
      c.stats.openCells++;
      c.aggs.add(s.cell, event);
      c.stats.accepted++;
      this.#push(s);
    } else {
      s = list![i]!;
      const start = Math.min(t, s.start);
      const end = Math.max(we, list![j - 1]!.end);
      if (start !== s.start || end !== s.end) this.#retire(s);
      for (let x = i + 1; x < j; x++) {
        const o = list![x]!;
        this.#retire(o);
        if (o.replaces !== undefined) (s.replaces ??= []).push(...o.replaces);
        c.aggs.merge(s.cell, o.cell);
        if (o.cell.rev > s.cell.rev) s.cell.rev = o.cell.rev;
        this.#remove(o);
        c.stats.openCells--;
      }
      if (j - i > 1) list!.splice(i + 1, j - i - 1);
      s.start = start;
      s.end = end;
      c.aggs.add(s.cell, event);
      c.stats.accepted++;
      if (s.fired && end > this.#wm) s.fired = false; // grown past the watermark: open again
      this.#update(s);
    }
    if (s.end <= this.#wm) {
      // The event joined (or opened) a session the watermark has passed: late within grace.
      c.stats.lateAccepted++;
      if (!s.fired) {
        s.fired = true;
        this.#update(s);
      }
      if (c.eager) this.#emit(s, false, 'late');
    }
    if (t > this.#maxT) {
      this.#maxT = t;
      const w = t - this.#ooo;
      if (w > this.#wm) this.advance(w, false);
    }
  }

  /** `s` is about to change bounds or be absorbed: remember its emitted window. */
  #retire(s: Session<K>): void {
    if (!s.shown) return;
    (s.replaces ??= []).push({ start: s.start, end: s.end });
    s.shown = false;
  }

  #emit(s: Session<K>, final: boolean, trigger: 'on-time' | 'late' | 'close' | 'flush' | 'evicted'): void {
    s.cell.rev++;
    const replaces = s.replaces;
    s.replaces = undefined;
    s.shown = true;
    this.#c.emit(s.key, s.start, s.end, s.cell, s.cell.rev, final, trigger, replaces);
  }

  advance(w: number, flush: boolean): void {
    if (!(w > this.#wm)) return;
    this.#wm = w;
    this.#expire(w);
    const heap = this.#heap;
    const eager = this.#c.eager;
    while (heap.length > 0) {
      const s = heap[0]!;
      if (this.#due(s) > w) break;
      if (!s.fired) {
        const closes = s.end + this.#grace <= w;
        if (closes) {
          this.#emit(s, true, flush ? 'flush' : 'on-time');
          this.#closeByWatermark(s);
          continue;
        }
        if (eager) this.#emit(s, false, 'on-time');
        s.fired = true;
        this.#update(s);
      } else {
        this.#emit(s, true, flush ? 'flush' : 'close');
        this.#closeByWatermark(s);
      }
    }
  }

  /** Closes `s` normally (by the watermark): leaves a tombstone for its key. */
  #closeByWatermark(s: Session<K>): void {
    this.#close(s);
    if (!Number.isFinite(this.#wm)) return; // flush: everything is refused from now on anyway
    const expiry = s.end + this.#gap + this.#grace;
    if (expiry <= this.#wm) return;
    if (s.end > (this.#closedEnd.get(s.key) ?? -Infinity)) this.#closedEnd.set(s.key, s.end);
    this.#expiries.push([expiry, s.key, s.end]);
  }

  #expire(w: number): void {
    const q = this.#expiries;
    let i = this.#expiryHead;
    while (i < q.length && q[i]![0] <= w) {
      const [, key, end] = q[i]!;
      if (this.#closedEnd.get(key) === end && !this.#byKey.has(key)) this.#closedEnd.delete(key);
      i++;
    }
    if (i === q.length) {
      this.#expiries = [];
      this.#expiryHead = 0;
    } else if (i > 1024 && i * 2 > q.length) {
      this.#expiries = q.slice(i);
      this.#expiryHead = 0;
    } else this.#expiryHead = i;
  }

  #close(s: Session<K>): void {
    this.#remove(s);
    const list = this.#byKey.get(s.key)!;
    const i = list.indexOf(s);
    list.splice(i, 1);
    if (list.length === 0) this.#byKey.delete(s.key);
    this.#c.stats.openCells--;
  }

  #evictFirst(): void {
    const s = this.#heap[0]!;
    this.#c.stats.evictions++;
    this.#emit(s, true, 'evicted');
    if (s.end > this.#floor) this.#floor = s.end;
    this.#close(s);
  }

  // Indexed binary min-heap on #due.
  #push(s: Session<K>): void {
    s.hi = this.#heap.length;
    this.#heap.push(s);
    this.#up(s.hi);
  }

  #update(s: Session<K>): void {
    this.#up(s.hi);
    this.#down(s.hi);
  }

  #remove(s: Session<K>): void {
    const heap = this.#heap;
    const i = s.hi;
    const last = heap.pop()!;
    if (last !== s) {
      heap[i] = last;
      last.hi = i;
      this.#update(last);
    }
    s.hi = -1;
  }

  /** Heap order: due time, then creation order. */
  #before(a: Session<K>, b: Session<K>): boolean {
    const da = this.#due(a);
    const db = this.#due(b);
    return da < db || (da === db && a.seq < b.seq);
  }

  #up(i: number): void {
    const heap = this.#heap;
    const s = heap[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const ps = heap[p]!;
      if (!this.#before(s, ps)) break;
      heap[i] = ps;
      ps.hi = i;
      i = p;
    }
    heap[i] = s;
    s.hi = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const s = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let child = l;
      if (l + 1 < n && this.#before(heap[l + 1]!, heap[l]!)) child = l + 1;
      const cs = heap[child]!;
      if (!this.#before(cs, s)) break;
      heap[i] = cs;
      cs.hi = i;
      i = child;
    }
    heap[i] = s;
    s.hi = i;
  }

  forget(key: WindowKey): void {
    const list = this.#byKey.get(key as K);
    if (list !== undefined) {
      for (const s of list) this.#remove(s);
      this.#c.stats.openCells -= list.length;
      this.#byKey.delete(key as K);
    }
    this.#closedEnd.delete(key as K);
    if (this.#expiries.some((e) => e[1] === key)) {
      this.#expiries = this.#expiries.slice(this.#expiryHead).filter((e) => e[1] !== key);
      this.#expiryHead = 0;
    }
  }

  snapshot(): SessionSnapshot<K> {
    return runSteps(this.snapshotSteps());
  }

  /** `snapshot()` in steps (snapshots/steps.ts): a checkpoint every few hundred sessions. */
  *snapshotSteps(): Steps<SessionSnapshot<K>> {
    const sessions: SessionSnapshot<K>['sessions'] = [];
    let n = 0;
    for (const list of [...this.#byKey.values()]) {
      if (checkpoint(n++)) yield;
      for (const s of list) {
        sessions.push({
          seq: s.seq,
          start: s.start,
          end: s.end,
          fired: s.fired,
          shown: s.shown,
          ...(s.replaces !== undefined ? { replaces: s.replaces } : {}),
          cell: this.#c.aggs.save(s.cell),
        });
      }
    }
    return {
      kind: 'session',
      gapMs: this.#gap,
      seq: this.#seq,
      watermark: encodeNumber(this.#wm),
      maxEventTime: encodeNumber(this.#maxT),
      floor: encodeNumber(this.#floor),
      sessions,
      tombstones: [...this.#closedEnd].map(([key, end]) => [end + this.#gap + this.#grace, key, end]),
    };
  }

  restore(json: unknown): void {
    const snap = json as SessionSnapshot<K>;
    if (snap.kind !== 'session' || snap.gapMs !== this.#gap)
      throw new RangeError(`snapshot is for ${snap.kind}(${snap.gapMs}), not session(${this.#gap})`);
    this.#byKey.clear();
    this.#heap = [];
    for (const j of [...snap.sessions].sort((a, b) => a.start - b.start)) {
      const cell = this.#c.aggs.load(j.cell);
      const s: Session<K> = {
        key: cell.key,
        start: j.start,
        end: j.end,
        cell,
        fired: j.fired,
        shown: j.shown,
        replaces: j.replaces,
        hi: -1,
        seq: j.seq,
      };
      const list = this.#byKey.get(s.key);
      if (list === undefined) this.#byKey.set(s.key, [s]);
      else list.push(s);
      this.#push(s);
    }
    this.#wm = decodeNumber(snap.watermark);
    this.#maxT = decodeNumber(snap.maxEventTime);
    this.#floor = decodeNumber(snap.floor);
    this.#seq = snap.seq;
    this.#closedEnd.clear();
    this.#expiries = snap.tombstones
      .map(([expiry, key, end]): [number, K, number] => [expiry, key, end])
      .sort((a, b) => a[0] - b[0]);
    this.#expiryHead = 0;
    for (const [, key, end] of this.#expiries) this.#closedEnd.set(key, end);
    this.#c.stats.openCells = snap.sessions.length;
  }
}
