import { ItemGraph, newItem, type ItemState, type KnnState, type Neighbours } from './graph.ts';
import type { KnnUser, ProfileEntry, RingEntry } from './knn-users.ts';
import { asArray, asFinite, asObject, asString, expectHeader, expectSame, fail } from './snapshot-check.ts';
import type { InteractionKind } from './types.ts';

const KINDS: readonly InteractionKind[] = ['play', 'skip', 'like', 'add'];
export const KNN_SNAPSHOT_VERSION = 2;

/**
 * The compact, JSON-ready state of item-knn (flat arrays of numbers and strings; no object
 * per edge):
 *
 * ```
 * { kind: 'item-knn', version: 2, halfLifeMs, trendHalfLifeMs, longHalfLifeMs,
 *   landmark,                      // decay landmark (ms) or null before the first event
 *   tracks: [id, …],               // the `live` modelled tracks (least recently touched first),
 *   live,                          //   then evicted tracks still named by an edge (dead edges)
 *   artists: [artistId | null, …], // per live track
 *   counts: [pos, neg, recent, users, …],          // 4 per live track (forward-decayed)
 *   session: [[neighbour index, weight, …], …],   // per live track
 *   long: [[neighbour index, weight, …], …],
 *   users: [[userId, [trackId, kind, weight, ts, …], [trackId, w, ts, kind, kindWeight, …]], …],
 *                                  // least recently active first; ring oldest first; profile in order
 *   plays: [[trackId, log2 count], …] }             // the popularity fill
 * ```
 * kind codes: 0 play, 1 skip, 2 like, 3 add. Dead edges are kept so that a restored model
 * prunes exactly when the original would.
 */
export function snapshotKnn(st: KnnState, name: string): unknown {
  const { o, graph } = st;
  const index = new Map<ItemState, number>();
  const tracks: string[] = [];
  const artists: (string | null)[] = [];
  const counts: number[] = [];
  const live: ItemState[] = [];
  for (const [, it] of graph.items.rentries() as Iterable<[string, ItemState]>) {
    index.set(it, tracks.length);
    tracks.push(it.trackId);
    artists.push(it.artistId ?? null);
    counts.push(it.pos, it.neg, it.recent, it.users);
    live.push(it);
  }
  const nLive = tracks.length;
  const ref = (it: ItemState): number => {
    let k = index.get(it);
    if (k === undefined) {
      k = tracks.length;
      index.set(it, k);
      tracks.push(it.trackId);
    }
    return k;
  };
  const flat = (l: Neighbours): number[] => {
    const out: number[] = [];
    for (let k = 0; k < l.size; k++) out.push(ref(l.nb[k] as ItemState), l.w[k] as number);
    return out;
  };
  const session = live.map((it) => flat(it.sess));
  const long = live.map((it) => flat(it.long));
  const users: [string, (string | number)[], (string | number)[]][] = [];
  for (const [id, u] of st.users.oldestFirst()) {
    const ring: (string | number)[] = [];
    for (const e of u.ring.toArray()) ring.push(e.trackId, KINDS.indexOf(e.kind), e.weight, e.ts);
    const profile: (string | number)[] = [];
    for (const p of u.profile) profile.push(p.trackId, p.w, p.ts, KINDS.indexOf(p.kind), p.kindW);
    users.push([id, ring, profile]);
  }
  return {
    kind: name,
    version: KNN_SNAPSHOT_VERSION,
    halfLifeMs: o.halfLifeMs,
    trendHalfLifeMs: o.trendHalfLifeMs,
    longHalfLifeMs: o.longHalfLifeMs,
    landmark: Number.isNaN(graph.landmark) ? null : graph.landmark,
    tracks,
    live: nLive,
    artists,
    counts,
    session,
    long,
    users,
    plays: st.pop.snapshot(),
  };
}

const nonNegative = (v: unknown, path: string): number => {
  const x = asFinite(v, path);
  if (x < 0) fail(path, 'must be ≥ 0');
  return x;
};

/** Validates a snapshot fully, then installs it; on any error throws InvalidSnapshotError and changes nothing. */
export function restoreKnn(st: KnnState, raw: unknown, name: string): void {
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
  const tracks = asArray(s['tracks'], 'tracks', nLive * (1 + 2 * o.maxNeighbors)).map((t, k) =>
    asString(t, `tracks[${k}]`),
  );
  if (tracks.length < nLive) fail('tracks', 'has fewer entries than live');
  const artists = asArray(s['artists'], 'artists');
  const counts = asArray(s['counts'], 'counts');
  if (artists.length !== nLive) fail('artists', 'must have one entry per live track');
  if (counts.length !== 4 * nLive) fail('counts', 'must have 4 numbers per live track');
  const items: ItemState[] = [];
  const byId = new Map<string, ItemState>();
  for (let k = 0; k < tracks.length; k++) {
    const id = tracks[k] as string;
    if (k >= nLive) {
      items.push(newItem(id, undefined, true));
      continue;
    }
    if (byId.has(id)) fail(`tracks[${k}]`, `repeats track ${JSON.stringify(id)}`);
    const it = newItem(id, artists[k] === null ? undefined : asString(artists[k], `artists[${k}]`));
    it.pos = nonNegative(counts[4 * k], `counts[${4 * k}]`);
    it.neg = nonNegative(counts[4 * k + 1], `counts[${4 * k + 1}]`);
    it.recent = nonNegative(counts[4 * k + 2], `counts[${4 * k + 2}]`);
    it.users = nonNegative(counts[4 * k + 3], `counts[${4 * k + 3}]`);
    items.push(it);
    byId.set(id, it);
  }
  const lists = (key: 'session' | 'long'): void => {
    const all = asArray(s[key], key);
    if (all.length !== nLive) fail(key, 'must have one list per live track');
    all.forEach((rawList, k) => {
      const p = `${key}[${k}]`;
      const l = asArray(rawList, p, 2 * o.maxNeighbors);
      if (l.length % 2 !== 0) fail(p, 'must be [neighbour index, weight, …]');
      const from = items[k] as ItemState;
      const m = key === 'session' ? from.sess : from.long;
      for (let j = 0; j < l.length; j += 2) {
        const nb = asFinite(l[j], `${p}[${j}]`);
        if (!Number.isInteger(nb) || nb < 0 || nb >= items.length || nb === k)
          fail(`${p}[${j}]`, 'must index another track');
        const to = items[nb] as ItemState;
        if (m.slot.has(to.uid)) fail(`${p}[${j}]`, 'repeats a neighbour');
        m.push(to, nonNegative(l[j + 1], `${p}[${j + 1}]`));
      }
    });
  };
  lists('session');
  lists('long');
  // Ghosts must be named by some edge (else they are garbage, and unbounded).
  const named = new Set<ItemState>();
  for (let k = 0; k < nLive; k++) {
    for (const nb of (items[k] as ItemState).sess.nb) named.add(nb);
    for (const nb of (items[k] as ItemState).long.nb) named.add(nb);
  }
  for (let k = nLive; k < items.length; k++)
    if (!named.has(items[k] as ItemState)) fail(`tracks[${k}]`, 'is an evicted track no edge names');
  const ghosts = new Map<string, ItemState>();
  const itemOf = (id: string): ItemState => {
    const it = byId.get(id) ?? ghosts.get(id);
    if (it) return it;
    const g = newItem(id, undefined, true);
    ghosts.set(id, g);
    return g;
  };
  const kindOf = (v: unknown, path: string): InteractionKind => {
    const kind = KINDS[v as number];
    if (!Number.isInteger(v) || kind === undefined) fail(path, 'must be a kind code 0..3');
    return kind;
  };
  const seen = new Set<string>();
  const users = asArray(s['users'], 'users', o.maxUsers).map((rawUser, ui): [string, KnnUser] => {
    const p = `users[${ui}]`;
    const a = asArray(rawUser, p);
    if (a.length !== 3) fail(p, 'must be [userId, ring, profile]');
    const id = asString(a[0], `${p}[0]`);
    if (seen.has(id)) fail(p, `repeats user ${JSON.stringify(id)}`);
    seen.add(id);
    const u = st.users.blank();
    const ring = asArray(a[1], `${p}[1]`, 4 * o.historySize);
    if (ring.length % 4 !== 0) fail(`${p}[1]`, 'must be [trackId, kind, weight, ts, …]');
    for (let j = 0; j < ring.length; j += 4) {
      const trackId = asString(ring[j], `${p}[1][${j}]`);
      const e: RingEntry = {
        trackId,
        kind: kindOf(ring[j + 1], `${p}[1][${j + 1}]`),
        weight: asFinite(ring[j + 2], `${p}[1][${j + 2}]`),
        ts: asFinite(ring[j + 3], `${p}[1][${j + 3}]`),
        item: itemOf(trackId),
      };
      u.ring.push(e);
    }
    const prof = asArray(a[2], `${p}[2]`, 5 * o.profileSize);
    if (prof.length % 5 !== 0) fail(`${p}[2]`, 'must be [trackId, weight, ts, kind, kindWeight, …]');
    for (let j = 0; j < prof.length; j += 5) {
      const trackId = asString(prof[j], `${p}[2][${j}]`);
      if (u.byTrack.has(trackId)) fail(`${p}[2][${j}]`, `repeats track ${JSON.stringify(trackId)}`);
      const e: ProfileEntry = {
        trackId,
        item: itemOf(trackId),
        w: asFinite(prof[j + 1], `${p}[2][${j + 1}]`),
        ts: asFinite(prof[j + 2], `${p}[2][${j + 2}]`),
        kind: kindOf(prof[j + 3], `${p}[2][${j + 3}]`),
        kindW: asFinite(prof[j + 4], `${p}[2][${j + 4}]`),
      };
      u.profile.push(e);
      u.byTrack.set(trackId, e);
    }
    return [id, u];
  });
  const plays = st.pop.parse(s['plays'], 'plays');
  // Everything parsed: install.
  const cache = ItemGraph.cache(o.maxItems);
  for (const it of items.slice(0, nLive)) cache.set(it.trackId, it);
  graph.items = cache;
  graph.landmark = landmark;
  st.users.replace(users);
  st.pop.replace(plays);
}
