import { InvalidHandlerSnapshotError, typed } from '../snapshots/check.ts';
import { packColumn, packStrings, unpackColumn, unpackStrings } from '../snapshots/columns.ts';
import { ItemGraph, Neighbours, newItem, type ItemState, type KnnState } from './graph.ts';
import { restoreUserColumns, userColumns } from './knn-users.ts';
import { checkpoint, type Steps } from '../snapshots/steps.ts';
import {
  asFinite,
  asObject,
  expectHeader,
  expectSame,
  fail,
  InvalidSnapshotError,
} from './snapshot-check.ts';

export const KNN_SNAPSHOT_VERSION = 3;

/** One kind of neighbour list of every live track: list `k` is `nb`/`w` from `offsets[k]` to `offsets[k + 1]`. */
export interface EdgeColumns {
  offsets: Uint32Array;
  /** Neighbour: an index into `tracks`. */
  nb: Uint32Array;
  /** Its stored (forward-decayed) weight. */
  w: Float64Array;
}

/**
 * The state of item-knn as flat columns (typed arrays and packed strings: `v8.serialize`
 * writes each as one run of bytes, and a restore reads them back without an object per
 * track, edge or history entry):
 *
 * ```
 * { kind: 'item-knn', version: 3, halfLifeMs, trendHalfLifeMs, longHalfLifeMs,
 *   landmark,                        // decay landmark (ms) or null before the first event
 *   tracks: PackedStrings,           // the `live` modelled tracks (least recently touched first),
 *   live,                            //   then evicted tracks still named by an edge (dead edges)
 *   artists: StringColumn,           // per live track
 *   counts: Float64Array,            // pos, neg, recent, users per live track (forward-decayed)
 *   session: EdgeColumns, long: EdgeColumns,
 *   users: UserColumns,              // knn-users.ts: rings and profiles, least recently active first
 *   plays: { tracks, scores } }      // the popularity fill, least recently counted first
 * ```
 * Dead edges are kept so that a restored model prunes exactly when the original would.
 * Restore validates everything first; the users' entry objects are then built lazily, per
 * user, on first use (knn-users.ts `RestoredUser`), and each list's slot index on its first
 * update. Not JSON: a structured clone (`v8.serialize`) carries it. Built in steps
 * (snapshots/steps.ts): the stream processor lets the event loop turn between them.
 */
export function* snapshotKnn(st: KnnState, name: string): Steps<unknown> {
  const { o, graph } = st;
  // By uid (an integer key hashes without touching the object; unique among the items alive).
  const index = new Map<number, number>();
  const tracks: string[] = [];
  const artists: (string | undefined)[] = [];
  const live: ItemState[] = [];
  for (const [, it] of graph.items.rentries() as Iterable<[string, ItemState]>) {
    index.set(it.uid, tracks.length);
    tracks.push(it.trackId);
    artists.push(it.artistId);
    live.push(it);
  }
  const nLive = live.length;
  const counts = new Float64Array(4 * nLive);
  for (let k = 0; k < nLive; k++) {
    const it = live[k]!;
    counts[4 * k] = it.pos;
    counts[4 * k + 1] = it.neg;
    counts[4 * k + 2] = it.recent;
    counts[4 * k + 3] = it.users;
  }
  const ref = (it: ItemState): number => {
    let k = index.get(it.uid);
    if (k === undefined) {
      k = tracks.length;
      index.set(it.uid, k);
      tracks.push(it.trackId);
    }
    return k;
  };
  function* lists(key: 'sess' | 'long'): Steps<EdgeColumns> {
    let total = 0;
    for (const it of live) total += it[key].size;
    const offsets = new Uint32Array(nLive + 1);
    const nb = new Uint32Array(total);
    const w = new Float64Array(total);
    let at = 0;
    for (let k = 0; k < nLive; k++) {
      if (checkpoint(k)) yield;
      const l = live[k]![key];
      for (let j = 0; j < l.size; j++, at++) {
        nb[at] = ref(l.nb[j]!);
        w[at] = l.w[j]!;
      }
      offsets[k + 1] = at;
    }
    return { offsets, nb, w };
  }
  const session = yield* lists('sess');
  const long = yield* lists('long');
  return {
    kind: name,
    version: KNN_SNAPSHOT_VERSION,
    halfLifeMs: o.halfLifeMs,
    trendHalfLifeMs: o.trendHalfLifeMs,
    longHalfLifeMs: o.longHalfLifeMs,
    landmark: Number.isNaN(graph.landmark) ? null : graph.landmark,
    tracks: packStrings(tracks),
    live: nLive,
    artists: packColumn(artists),
    counts,
    session,
    long,
    users: yield* userColumns(st.users.oldestFirst(), st.users.size),
    plays: st.pop.snapshotColumns(),
  };
}

/** List `k`'s weights, copied (a list restored empty gets the usual first array). */
function listWeights(e: EdgeColumns, k: number): Float64Array {
  const from = e.offsets[k]!;
  const to = e.offsets[k + 1]!;
  return from === to ? new Float64Array(4) : e.w.slice(from, to);
}

/** Validates a snapshot fully, then installs it; on any error throws InvalidSnapshotError and changes nothing. */
export function restoreKnn(st: KnnState, raw: unknown, name: string): void {
  try {
    restore(st, raw, name);
  } catch (err) {
    if (err instanceof InvalidHandlerSnapshotError)
      throw new InvalidSnapshotError(err.message.replace(/^invalid handler snapshot: /, ''));
    throw err;
  }
}

function restore(st: KnnState, raw: unknown, name: string): void {
  const { o, graph } = st;
  const s = asObject(raw, 'snapshot');
  expectHeader(s, name, KNN_SNAPSHOT_VERSION);
  expectSame(s, 'halfLifeMs', o.halfLifeMs);
  expectSame(s, 'trendHalfLifeMs', o.trendHalfLifeMs);
  expectSame(s, 'longHalfLifeMs', o.longHalfLifeMs);
  const landmark = s['landmark'] === null ? Number.NaN : asFinite(s['landmark'], 'landmark');
  const nLive = asFinite(s['live'], 'live');
  if (!Number.isInteger(nLive) || nLive < 0 || nLive > o.maxItems)
    fail('live', `must be an integer in [0, ${o.maxItems}]`);
  const tracks = unpackStrings(s['tracks'], 'tracks', nLive * (1 + 2 * o.maxNeighbors));
  if (tracks.length < nLive) fail('tracks', 'has fewer entries than live');
  for (let k = 0; k < tracks.length; k++)
    if (tracks[k] === '') fail(`tracks[${k}]`, 'must be a non-empty string');
  const artists = unpackColumn(s['artists'], 'artists', nLive);
  const counts = typed(s['counts'], Float64Array, 'counts', 4 * nLive);
  for (let j = 0; j < counts.length; j++)
    if (!Number.isFinite(counts[j]!) || counts[j]! < 0) fail(`counts[${j}]`, 'must be a finite number ≥ 0');
  const nTracks = tracks.length;
  // Which tracks some edge names (ghosts must be: else they are garbage, and unbounded).
  const named = new Uint8Array(nTracks);
  // Repeated neighbours in a list: each track stamped with the last list that named it.
  const stamp = new Int32Array(nTracks).fill(-1);
  const edges = (key: 'session' | 'long'): EdgeColumns => {
    const e = asObject(s[key], key);
    const offsets = typed(e['offsets'], Uint32Array, `${key}.offsets`, nLive + 1);
    const nb = typed(e['nb'], Uint32Array, `${key}.nb`);
    const w = typed(e['w'], Float64Array, `${key}.w`, nb.length);
    if (offsets[0] !== 0) fail(`${key}.offsets[0]`, 'must be 0');
    if (offsets[nLive] !== nb.length) fail(`${key}.offsets[${nLive}]`, `must be ${nb.length}`);
    stamp.fill(-1);
    for (let k = 0; k < nLive; k++) {
      const from = offsets[k]!;
      const to = offsets[k + 1]!;
      if (to < from || to - from > o.maxNeighbors)
        fail(`${key}.offsets[${k + 1}]`, `must add 0..${o.maxNeighbors} neighbours`);
      for (let j = from; j < to; j++) {
        const t = nb[j]!;
        if (t >= nTracks || t === k) fail(`${key}.nb[${j}]`, 'must index another track');
        if (stamp[t] === k) fail(`${key}.nb[${j}]`, 'repeats a neighbour');
        stamp[t] = k;
        named[t] = 1;
        if (!Number.isFinite(w[j]!) || w[j]! < 0) fail(`${key}.w[${j}]`, 'must be a finite number ≥ 0');
      }
    }
    return { offsets, nb, w };
  };
  const session = edges('session');
  const long = edges('long');
  for (let k = nLive; k < nTracks; k++)
    if (!named[k]) fail(`tracks[${k}]`, 'is an evicted track no edge names');
  const byId = new Set<string>();
  for (let k = 0; k < nLive; k++) {
    if (byId.has(tracks[k]!)) fail(`tracks[${k}]`, `repeats track ${JSON.stringify(tracks[k])}`);
    byId.add(tracks[k]!);
  }
  const plays = st.pop.parseColumns(s['plays'], 'plays');
  // The users are checked here and materialized on first use; a track is resolved then.
  const ghosts = new Map<string, ItemState>();
  const itemOf = (id: string): ItemState => {
    const it = graph.items.peek(id) ?? ghosts.get(id);
    if (it) return it;
    const g = newItem(id, undefined, true);
    ghosts.set(id, g);
    return g;
  };
  const users = restoreUserColumns(s['users'], 'users', o, itemOf);
  // Everything checked: build and install (ghosts first: the live tracks' lists name them).
  const items: ItemState[] = new Array<ItemState>(nTracks);
  for (let k = nLive; k < nTracks; k++) items[k] = newItem(tracks[k]!, undefined, true);
  // The items first, then their lists (which name items restored after them).
  const lists: Array<[Neighbours, Neighbours]> = [];
  for (let k = 0; k < nLive; k++) {
    const sess = new Neighbours([], listWeights(session, k));
    const lng = new Neighbours([], listWeights(long, k));
    const it = newItem(tracks[k]!, artists[k], false, sess, lng);
    it.pos = counts[4 * k]!;
    it.neg = counts[4 * k + 1]!;
    it.recent = counts[4 * k + 2]!;
    it.users = counts[4 * k + 3]!;
    items[k] = it;
    lists.push([sess, lng]);
  }
  const fill = (l: Neighbours, e: EdgeColumns, k: number): void => {
    const from = e.offsets[k]!;
    const to = e.offsets[k + 1]!;
    for (let j = from; j < to; j++) l.nb.push(items[e.nb[j]!]!);
    l.size = to - from;
  };
  for (let k = 0; k < nLive; k++) {
    fill(lists[k]![0], session, k);
    fill(lists[k]![1], long, k);
  }
  const cache = ItemGraph.cache(o.maxItems);
  for (let k = 0; k < nLive; k++) cache.set(tracks[k]!, items[k]);
  graph.items = cache;
  graph.landmark = landmark;
  st.users.replace(users);
  st.pop.replace(plays);
}
