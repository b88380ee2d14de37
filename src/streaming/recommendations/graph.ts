import { boundedCache, type LRUCache } from '../../core/cache/index.ts';
import type { DecayedPopularity } from './popularity.ts';
import type { KnnUser, KnnUsers, RingEntry } from './knn-users.ts';
import type { ResolvedItemKnnOptions } from './options.ts';
import { IntSlots } from './int-slots.ts';
import type { Interaction } from './types.ts';

/**
 * One modelled track. Weights are decayed by forward decay in linear space: a weight `w`
 * observed at `t` is stored as `w · 2^((t − landmark) / halfLife)`, so sums are plain
 * additions, the order of stored values is the order of their decayed values at any time,
 * and ratios of two sums on the same clock do not depend on time. When the factor grows
 * large the graph is rebased (every stored value rescaled once; `ItemGraph.clock`).
 */
export interface ItemState {
  readonly trackId: string;
  /** Process-unique small integer: the neighbour lists' key (an integer key hashes without touching the object). */
  readonly uid: number;
  artistId: string | undefined;
  /** Decayed positive weight (halfLifeMs), 0 = none. */
  pos: number;
  /** Positive weight decayed with trendHalfLifeMs. */
  recent: number;
  /** Decayed skip weight (halfLifeMs). */
  neg: number;
  /** Decayed count of users whose profile took the track in (longHalfLifeMs). */
  users: number;
  /** Session co-occurrence (halfLifeMs). */
  sess: Neighbours;
  /** Long-term (whole profile) co-occurrence (longHalfLifeMs). */
  long: Neighbours;
  /** Set when evicted: edges to it are dead, skipped when scoring and dropped at that list's next prune. */
  evicted: boolean;
}

let nextUid = 0;

export function newItem(
  trackId: string,
  artistId: string | undefined,
  evicted = false,
  sess: Neighbours = new Neighbours(),
  long: Neighbours = new Neighbours(),
): ItemState {
  nextUid = (nextUid + 1) % 0x3fffffff; // stays a small integer; uniqueness needs fewer than 2^30 live tracks
  return {
    trackId,
    uid: nextUid,
    artistId,
    pos: 0,
    recent: 0,
    neg: 0,
    users: 0,
    sess,
    long,
    evicted,
  };
}

/**
 * A bounded neighbour list: neighbours and weights in parallel arrays (weights in a
 * Float64Array grown by doubling up to the bound), found through an IntSlots table from
 * their uid to their index (typed arrays: an update allocates nothing). Scoring walks the
 * arrays.
 */
export class Neighbours {
  #slot: IntSlots | undefined;
  nb: ItemState[];
  w: Float64Array;
  size: number;

  /** An empty list, or one of `nb` with weights `w` (one each: a snapshot's; its slot table is built on first use). */
  constructor(nb: ItemState[] = [], w: Float64Array = new Float64Array(4)) {
    this.nb = nb;
    this.w = w;
    this.size = nb.length;
  }

  /** Neighbour uid → index in the arrays; built on first use (a list restored from a snapshot has none until then). */
  get slot(): IntSlots {
    if (this.#slot === undefined) {
      this.#slot = new IntSlots(Math.max(2, this.size));
      for (let k = 0; k < this.size; k++) this.#slot.set((this.nb[k] as ItemState).uid, k);
    }
    return this.#slot;
  }

  get(to: ItemState): number | undefined {
    const k = this.slot.get(to.uid);
    return k === -1 ? undefined : this.w[k];
  }

  /** Appends a new neighbour (the caller made room). */
  push(to: ItemState, x: number): void {
    if (this.size === this.w.length) {
      const w = new Float64Array(this.w.length * 2);
      w.set(this.w);
      this.w = w;
    }
    this.slot.set(to.uid, this.size);
    this.nb.push(to);
    this.w[this.size++] = x;
  }

  /** Keeps the entries for which `keep(k)` holds, in order (O(size)); the slot table is rebuilt when any went. */
  compact(keep: (k: number) => boolean): void {
    let j = 0;
    for (let k = 0; k < this.size; k++) {
      const nb = this.nb[k] as ItemState;
      if (!keep(k)) continue;
      if (j !== k) {
        this.nb[j] = nb;
        this.w[j] = this.w[k] as number;
      }
      j++;
    }
    if (j === this.size) return;
    this.nb.length = j;
    this.size = j;
    this.slot.clear();
    for (let k = 0; k < j; k++) this.slot.set((this.nb[k] as ItemState).uid, k);
  }

  scale(f: number): void {
    for (let k = 0; k < this.size; k++) this.w[k] = (this.w[k] as number) * f;
  }
}

/** Rebase once the largest decay factor reaches 2^REBASE_AT (values stay far inside double range). */
const REBASE_AT = 256;

/**
 * The item side of item-knn: the tracks (LRU over `maxItems`, lru-cache), their counts and
 * their two bounded neighbour lists, and the decay clock.
 */
export class ItemGraph {
  readonly o: ResolvedItemKnnOptions;
  items: LRUCache<string, ItemState>;
  /** The decay landmark (ms); NaN until the first interaction. */
  landmark = Number.NaN;
  readonly #keep: number;
  readonly #minHalfLife: number;
  /** Reused by prune (observe is synchronous and never re-entered). */
  readonly #scratch: Float64Array;

  constructor(o: ResolvedItemKnnOptions) {
    this.o = o;
    this.items = ItemGraph.cache(o.maxItems);
    this.#keep = Math.max(1, Math.floor(o.maxNeighbors * o.pruneTo));
    this.#minHalfLife = Math.min(o.halfLifeMs, o.trendHalfLifeMs, o.longHalfLifeMs);
    this.#scratch = new Float64Array(o.maxNeighbors);
  }

  static cache(max: number): LRUCache<string, ItemState> {
    return boundedCache<string, ItemState>(max, {
      dispose: (item, _key, reason) => {
        if (reason !== 'evict') return;
        // LRU eviction: the track whose own last interaction is oldest. Its lists go with it;
        // edges to it elsewhere are dead (skipped when scoring, dropped at the next prune).
        item.evicted = true;
        item.sess = new Neighbours();
        item.long = new Neighbours();
      },
    });
  }

  /** Moves the landmark forward when needed; then `scale(t, h)` is safe. */
  clock(t: number): void {
    if (Number.isNaN(this.landmark)) this.landmark = t;
    else if ((t - this.landmark) / this.#minHalfLife > REBASE_AT) this.rebase(t);
  }

  /** 2^((t − landmark) / halfLife): the stored value of weight 1 observed at t. */
  scale(t: number, halfLifeMs: number): number {
    return 2 ** ((t - this.landmark) / halfLifeMs);
  }

  /** The decayed value at `now` of a stored value on the `halfLifeMs` clock. */
  valueAt(stored: number, now: number, halfLifeMs: number): number {
    return stored * 2 ** (-(now - this.landmark) / halfLifeMs);
  }

  /** Moves the landmark to `t`, rescaling every stored value (O(items + edges), once per ~REBASE_AT half-lives). */
  rebase(t: number): void {
    const o = this.o;
    const dt = t - this.landmark;
    const f = 2 ** (-dt / o.halfLifeMs);
    const ft = 2 ** (-dt / o.trendHalfLifeMs);
    const fl = 2 ** (-dt / o.longHalfLifeMs);
    for (const it of this.items.values()) {
      it.pos *= f;
      it.neg *= f;
      it.recent *= ft;
      it.users *= fl;
      it.sess.scale(f);
      it.long.scale(fl);
    }
    this.landmark = t;
  }

  /** The track's state, created if new (evicting the least recently touched track if full), marked most recent. */
  touch(trackId: string, artistId: string | undefined): ItemState {
    let item = this.items.get(trackId);
    if (!item) {
      item = newItem(trackId, artistId);
      this.items.set(trackId, item);
    } else if (artistId !== undefined) item.artistId = artistId;
    return item;
  }

  /** The live state of a remembered reference (the same track may have been evicted and re-added). */
  live(item: ItemState): ItemState | undefined {
    return item.evicted ? this.items.peek(item.trackId) : item;
  }

  addSession(from: ItemState, to: ItemState, x: number): void {
    this.#add(from.sess, to, x);
  }

  weakenSession(from: ItemState, to: ItemState): void {
    const l = from.sess;
    const k = l.slot.get(to.uid);
    if (k !== -1) l.w[k] = (l.w[k] as number) * this.o.skipEdgeFactor;
  }

  addLong(from: ItemState, to: ItemState, x: number): void {
    this.#add(from.long, to, x);
  }

  #add(l: Neighbours, to: ItemState, x: number): void {
    const k = l.slot.get(to.uid);
    if (k !== -1) l.w[k] = (l.w[k] as number) + x;
    else {
      if (l.size >= this.o.maxNeighbors) this.#prune(l);
      l.push(to, x);
    }
  }

  /**
   * Drops edges to evicted tracks, then keeps the `pruneTo` share with the largest decayed
   * weight (ties by track id), in place: O(maxNeighbors) expected (quickselect for the cut),
   * so amortized O(1) per insert. By raw weight, also for long-term lists: keeping the
   * heaviest co-occurrences (as heavy-hitter sketches do) measured better on Last.fm than
   * keeping the best cosine at prune time, which keeps noise from tracks still new (README).
   */
  #prune(l: Neighbours): void {
    const ws = this.#scratch;
    l.compact((k) => !(l.nb[k] as ItemState).evicted);
    const n = l.size;
    const keep = this.#keep;
    if (n <= keep) return;
    ws.set(l.w.subarray(0, n));
    const cut = kthLargest(ws, n, keep);
    let above = 0;
    const ties: ItemState[] = [];
    for (let k = 0; k < n; k++) {
      const w = l.w[k] as number;
      if (w > cut) above++;
      else if (w === cut) ties.push(l.nb[k] as ItemState);
    }
    let drop: Set<ItemState> | undefined;
    if (above + ties.length > keep) {
      ties.sort((x, y) => (x.trackId < y.trackId ? -1 : 1));
      drop = new Set(ties.slice(keep - above));
    }
    l.compact((k) => {
      const w = l.w[k] as number;
      return w > cut || (w === cut && !drop?.has(l.nb[k] as ItemState));
    });
  }
}

/** The k-th largest (1-based) of xs[0..n), by quickselect (reorders xs). */
export function kthLargest(xs: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = xs[(lo + hi) >> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((xs[i] as number) > pivot) i++;
      while ((xs[j] as number) < pivot) j--;
      if (i <= j) {
        const t = xs[i] as number;
        xs[i] = xs[j] as number;
        xs[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return xs[target] as number;
  }
  return xs[target] as number;
}

/** Everything item-knn holds; observe (here) and recommend (scoring.ts) read and write it. */
export interface KnnState {
  readonly o: ResolvedItemKnnOptions;
  readonly graph: ItemGraph;
  readonly users: KnnUsers;
  readonly pop: DecayedPopularity;
}

/**
 * One online update (the interaction already checked, `w` its feedback weight):
 * - counts: positive weight (long and trend clocks) or skip weight;
 * - session co-occurrence with the user's preceding positive tracks of this listening
 *   window (≤ pairWindow back, ≤ pairWindowMs before; distinct), w · w' · proximityDecay^distance
 *   both ways; a negative event multiplies those edges by skipEdgeFactor instead;
 * - long-term: a positive track new to the user's profile counts one more listener and is
 *   paired (weight 1 on the long clock) with the ≤ longPairs tracks most recently added to
 *   the profile — co-occurrence over the user's whole retained history, not one session.
 * Work: ≤ pairWindow + longPairs edge updates (each an O(1) map update on two lists, plus the
 * amortized prune), O(1) LRU upkeep, O(profileSize) when a full profile drops a track.
 * Allocates only what it stores (the ring entry, a new profile entry or edge).
 */
export function learn(s: KnnState, i: Interaction, w: number, seen: ItemState[]): void {
  const { o, graph } = s;
  const t = i.ts;
  graph.clock(t);
  const item = graph.touch(i.trackId, i.artistId);
  const user = s.users.touch(i.userId);
  if (i.kind === 'play') s.pop.add(i.trackId, 1, t);
  if (w > 0) {
    item.pos += w * graph.scale(t, o.halfLifeMs);
    item.recent += w * graph.scale(t, o.trendHalfLifeMs);
  } else if (w < 0) item.neg -= w * graph.scale(t, o.halfLifeMs);
  if (w !== 0) pairSession(s, user, item, t, w, seen);
  const p = user.byTrack.get(i.trackId);
  if (p) {
    p.w += w;
    p.ts = t;
    p.item = item;
    if (w > p.kindW) {
      p.kind = i.kind;
      p.kindW = w;
    }
  } else if (w > 0) {
    const lw = graph.scale(t, o.longHalfLifeMs);
    item.users += lw;
    const prof = user.profile;
    for (let k = prof.length - 1, n = 0; k >= 0 && n < o.longPairs; k--) {
      const e = prof[k] as (typeof prof)[number];
      if (e.w <= 0) continue;
      const other = graph.live(e.item);
      if (!other || other === item) continue;
      n++;
      graph.addLong(item, other, lw);
      graph.addLong(other, item, lw);
    }
    s.users.addToProfile(user, { trackId: i.trackId, item, w, ts: t, kind: i.kind, kindW: w });
  }
  user.ring.push({ trackId: i.trackId, kind: i.kind, weight: w, ts: t, item });
}

function pairSession(
  s: KnnState,
  user: KnnUser,
  item: ItemState,
  t: number,
  w: number,
  seen: ItemState[],
): void {
  const { o, graph } = s;
  const ring = user.ring;
  const n = Math.min(o.pairWindow, ring.size);
  const f = w > 0 ? w * graph.scale(t, o.halfLifeMs) : 0;
  let nSeen = 0;
  let prox = 1;
  for (let b = 0; b < n; b++, prox *= o.proximityDecay) {
    const e = ring.recent(b) as RingEntry;
    if (t - e.ts > o.pairWindowMs) break;
    if (e.weight <= 0 || e.trackId === item.trackId) continue;
    const other = graph.live(e.item);
    if (!other) continue;
    let dup = false;
    for (let k = 0; k < nSeen; k++) if (seen[k] === other) dup = true;
    if (dup) continue;
    seen[nSeen++] = other;
    if (w > 0) {
      const x = f * e.weight * prox;
      graph.addSession(item, other, x);
      graph.addSession(other, item, x);
    } else {
      graph.weakenSession(item, other);
      graph.weakenSession(other, item);
    }
  }
}
