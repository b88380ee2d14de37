import { boundedCache, type LRUCache } from '../../core/cache/index.ts';
import { bad, int, obj, typed } from '../snapshots/check.ts';
import { type PackedStrings, packStrings, StringDictionary, unpackStrings } from '../snapshots/columns.ts';
import { checkpoint, type Steps } from '../snapshots/steps.ts';
import type { ItemState } from './graph.ts';
import type { HistoryEntry } from './history.ts';
import { RingBuffer } from './ring-buffer.ts';
import type { InteractionKind, UserInteraction } from './types.ts';

/** A remembered interaction, with the model's state of its track (checked for eviction before use). */
export interface RingEntry extends HistoryEntry {
  item: ItemState;
}

/** One distinct track of a user's long-term profile. */
export interface ProfileEntry {
  trackId: string;
  item: ItemState;
  /** Net implicit feedback (sum of weights, undecayed); ≤ 0: excluded, no longer a seed. */
  w: number;
  /** Last interaction with it. */
  ts: number;
  /** Strongest kind seen (for the reason text and the export). */
  kind: InteractionKind;
  kindW: number;
}

/** What item-knn keeps per user: the recent ring (sessions, exclusion) and the long-term profile. */
export interface KnnUser {
  ring: RingBuffer<RingEntry>;
  /** In the order first added (newest last); at most `profileSize`. */
  profile: ProfileEntry[];
  byTrack: Map<string, ProfileEntry>;
}

/**
 * Per-user state of item-knn, bounded three ways: `historySize` ring entries, `profileSize`
 * profile tracks, `maxUsers` users (least recently active forgotten first, O(1), lru-cache).
 */
export class KnnUsers {
  readonly historySize: number;
  readonly profileSize: number;
  readonly maxUsers: number;
  #users: LRUCache<string, KnnUser>;

  constructor(historySize: number, profileSize: number, maxUsers: number) {
    this.historySize = historySize;
    this.profileSize = profileSize;
    this.maxUsers = maxUsers;
    this.#users = boundedCache<string, KnnUser>(maxUsers);
  }

  get size(): number {
    return this.#users.size;
  }

  /** The user's state without refreshing their recency (queries do not count as activity). */
  peek(userId: string): KnnUser | undefined {
    return this.#users.peek(userId);
  }

  /** The user's state, created (the least recently active user evicted if full), marked most recently active. */
  touch(userId: string): KnnUser {
    let u = this.#users.get(userId);
    if (!u) {
      u = this.blank();
      this.#users.set(userId, u);
    }
    return u;
  }

  blank(): KnnUser {
    return { ring: new RingBuffer<RingEntry>(this.historySize), profile: [], byTrack: new Map() };
  }

  /** Adds a profile entry, first dropping the one touched longest ago if the profile is full. */
  addToProfile(u: KnnUser, e: ProfileEntry): void {
    if (u.profile.length >= this.profileSize) {
      let k = 0;
      for (let j = 1; j < u.profile.length; j++)
        if ((u.profile[j] as ProfileEntry).ts < (u.profile[k] as ProfileEntry).ts) k = j;
      const [gone] = u.profile.splice(k, 1);
      u.byTrack.delete((gone as ProfileEntry).trackId);
    }
    u.profile.push(e);
    u.byTrack.set(e.trackId, e);
  }

  forget(userId: string): boolean {
    const u = this.#users.peek(userId);
    if (u instanceof RestoredUser) u.erase();
    return this.#users.delete(userId);
  }

  /**
   * Everything kept about the user, newest first (GDPR export): the ring's interactions, then
   * the profile's tracks not in the ring (as their strongest kind at their last time).
   */
  entries(userId: string): UserInteraction[] {
    const u = this.#users.peek(userId);
    if (!u) return [];
    const out: UserInteraction[] = [];
    const inRing = new Set<string>();
    for (const e of u.ring.newestFirst()) {
      inRing.add(e.trackId);
      out.push({ trackId: e.trackId, kind: e.kind, ts: e.ts });
    }
    const rest = u.profile.filter((p) => !inRing.has(p.trackId)).sort((a, b) => b.ts - a.ts);
    for (const p of rest) out.push({ trackId: p.trackId, kind: p.kind, ts: p.ts });
    return out;
  }

  maxRingSize(): number {
    let m = 0;
    for (const u of this.#users.values())
      m = Math.max(m, u instanceof RestoredUser ? u.ringSize : u.ring.size);
    return m;
  }

  maxProfileSize(): number {
    let m = 0;
    for (const u of this.#users.values())
      m = Math.max(m, u instanceof RestoredUser ? u.profileSize : u.profile.length);
    return m;
  }

  /** Least recently active first. */
  *oldestFirst(): IterableIterator<[string, KnnUser]> {
    for (const [k, v] of this.#users.rentries()) yield [k as string, v as KnnUser];
  }

  /** Replaces every user (restore): `users` least recently active first. */
  replace(users: readonly [string, KnnUser][]): void {
    const c = boundedCache<string, KnnUser>(this.maxUsers);
    for (const [id, u] of users) c.set(id, u);
    this.#users = c;
  }
}

const KIND_CODES: readonly InteractionKind[] = ['play', 'skip', 'like', 'add'];
const KIND_CODE: Readonly<Record<InteractionKind, number>> = { play: 0, skip: 1, like: 2, add: 3 };

/**
 * Every user's ring and profile as columns (item-knn snapshots, knn-snapshot.ts), users
 * least recently active first; entry `j` of user `k`'s ring is at `ringOffsets[k] + j`
 * (oldest first), likewise the profile (in its order). Track ids are indices into
 * `tracks`; kinds are codes 0 play, 1 skip, 2 like, 3 add.
 */
export interface UserColumns {
  ids: PackedStrings;
  tracks: PackedStrings;
  ringOffsets: Uint32Array;
  ringTrack: Uint32Array;
  ringKind: Uint8Array;
  ringWeight: Float64Array;
  ringTs: Float64Array;
  profileOffsets: Uint32Array;
  profileTrack: Uint32Array;
  profileKind: Uint8Array;
  profileW: Float64Array;
  profileTs: Float64Array;
  profileKindW: Float64Array;
}

/** Restored columns shared by the users not materialized yet. */
interface Restored {
  readonly c: UserColumns;
  readonly trackIds: readonly string[];
  readonly historySize: number;
  /** The model's state of a track when a user is materialized (live, else a ghost: see `ItemGraph.live`). */
  readonly item: (trackId: string) => ItemState;
}

/**
 * A restored user, materialized on first use: a restore installs one of these per user
 * (the columns stay as they were read) instead of rebuilding 100k rings, profiles and
 * maps of entry objects, so a restart is ready in a fraction of the time; a user's entry
 * objects are built when the stream or a query first reads them. Materializing later than
 * the restore gives the same state: an entry's track is looked up by id then, and every
 * reader goes through `ItemGraph.live`, which does that same lookup for an evicted track.
 */
export class RestoredUser implements KnnUser {
  #r: Restored | undefined;
  readonly #k: number;
  #ring: RingBuffer<RingEntry> | undefined;
  #profile: ProfileEntry[] = [];
  #byTrack: Map<string, ProfileEntry> | undefined;

  constructor(r: Restored, k: number) {
    this.#r = r;
    this.#k = k;
  }

  get ring(): RingBuffer<RingEntry> {
    if (this.#r) this.#load();
    return this.#ring!;
  }

  get profile(): ProfileEntry[] {
    if (this.#r) this.#load();
    return this.#profile;
  }

  get byTrack(): Map<string, ProfileEntry> {
    if (this.#r) this.#load();
    return this.#byTrack!;
  }

  get ringSize(): number {
    const r = this.#r;
    return r ? r.c.ringOffsets[this.#k + 1]! - r.c.ringOffsets[this.#k]! : this.#ring!.size;
  }

  get profileSize(): number {
    const r = this.#r;
    return r ? r.c.profileOffsets[this.#k + 1]! - r.c.profileOffsets[this.#k]! : this.#profile.length;
  }

  /** The columns and row while not materialized (a snapshot copies the rows as they are). */
  get columns(): { r: Restored; k: number } | undefined {
    return this.#r && { r: this.#r, k: this.#k };
  }

  /** GDPR erasure of a user never materialized: its rows in the shared columns are zeroed. */
  erase(): void {
    const r = this.#r;
    if (!r) return;
    const { c } = r;
    const k = this.#k;
    for (const col of [c.ringTrack, c.ringKind, c.ringWeight, c.ringTs])
      col.fill(0, c.ringOffsets[k], c.ringOffsets[k + 1]);
    for (const col of [c.profileTrack, c.profileKind, c.profileW, c.profileTs, c.profileKindW])
      col.fill(0, c.profileOffsets[k], c.profileOffsets[k + 1]);
    this.#r = undefined;
    this.#ring = new RingBuffer<RingEntry>(r.historySize);
    this.#byTrack = new Map();
  }

  #load(): void {
    const r = this.#r!;
    this.#r = undefined;
    const { c, trackIds } = r;
    const k = this.#k;
    const ring = new RingBuffer<RingEntry>(r.historySize);
    for (let j = c.ringOffsets[k]!, end = c.ringOffsets[k + 1]!; j < end; j++) {
      const trackId = trackIds[c.ringTrack[j]!]!;
      ring.push({
        trackId,
        kind: KIND_CODES[c.ringKind[j]!]!,
        weight: c.ringWeight[j]!,
        ts: c.ringTs[j]!,
        item: r.item(trackId),
      });
    }
    const profile: ProfileEntry[] = [];
    const byTrack = new Map<string, ProfileEntry>();
    for (let j = c.profileOffsets[k]!, end = c.profileOffsets[k + 1]!; j < end; j++) {
      const trackId = trackIds[c.profileTrack[j]!]!;
      const e: ProfileEntry = {
        trackId,
        item: r.item(trackId),
        w: c.profileW[j]!,
        ts: c.profileTs[j]!,
        kind: KIND_CODES[c.profileKind[j]!]!,
        kindW: c.profileKindW[j]!,
      };
      profile.push(e);
      byTrack.set(trackId, e);
    }
    this.#ring = ring;
    this.#profile = profile;
    this.#byTrack = byTrack;
  }
}

/** `users` (least recently active first) as columns, in steps (snapshots/steps.ts); a restored user not materialized yet is copied row for row. */
export function* userColumns(users: Iterable<[string, KnnUser]>, count: number): Steps<UserColumns> {
  const list: [string, KnnUser][] = [];
  let nRing = 0;
  let nProfile = 0;
  for (const e of users) {
    list.push(e);
    const u = e[1];
    nRing += u instanceof RestoredUser ? u.ringSize : u.ring.size;
    nProfile += u instanceof RestoredUser ? u.profileSize : u.profile.length;
  }
  if (list.length !== count) throw new Error('users changed while being snapshotted');
  const dict = new StringDictionary();
  // Track indices of a restored dictionary → this one's (-1: not seen yet), per restore.
  const remaps = new Map<Restored, Int32Array>();
  const remapOf = (r: Restored): Int32Array => {
    let m = remaps.get(r);
    if (!m) remaps.set(r, (m = new Int32Array(r.trackIds.length).fill(-1)));
    return m;
  };
  // A materialized entry's track, through its item's uid (an integer key: the string is
  // looked up once per item, not once per entry).
  const byUid = new Map<number, number>();
  const trackOf = (e: { trackId: string; item: ItemState }): number => {
    const it = e.item;
    let x = it.trackId === e.trackId ? byUid.get(it.uid) : undefined;
    if (x === undefined) {
      x = dict.id(e.trackId);
      if (it.trackId === e.trackId) byUid.set(it.uid, x);
    }
    return x;
  };
  const c: UserColumns = {
    ids: packStrings(list.map((e) => e[0])),
    tracks: { text: '', lengths: new Uint32Array(0) },
    ringOffsets: new Uint32Array(list.length + 1),
    ringTrack: new Uint32Array(nRing),
    ringKind: new Uint8Array(nRing),
    ringWeight: new Float64Array(nRing),
    ringTs: new Float64Array(nRing),
    profileOffsets: new Uint32Array(list.length + 1),
    profileTrack: new Uint32Array(nProfile),
    profileKind: new Uint8Array(nProfile),
    profileW: new Float64Array(nProfile),
    profileTs: new Float64Array(nProfile),
    profileKindW: new Float64Array(nProfile),
  };
  let ri = 0;
  let pi = 0;
  for (let k = 0; k < list.length; k++) {
    if (checkpoint(k)) yield;
    const u = list[k]![1];
    const rows = u instanceof RestoredUser ? u.columns : undefined;
    if (rows) {
      const { r, k: row } = rows;
      const s = r.c;
      const m = remapOf(r);
      const remap = (t: number): number => (m[t]! >= 0 ? m[t]! : (m[t] = dict.id(r.trackIds[t]!)));
      for (let j = s.ringOffsets[row]!, end = s.ringOffsets[row + 1]!; j < end; j++, ri++) {
        c.ringTrack[ri] = remap(s.ringTrack[j]!);
        c.ringKind[ri] = s.ringKind[j]!;
        c.ringWeight[ri] = s.ringWeight[j]!;
        c.ringTs[ri] = s.ringTs[j]!;
      }
      for (let j = s.profileOffsets[row]!, end = s.profileOffsets[row + 1]!; j < end; j++, pi++) {
        c.profileTrack[pi] = remap(s.profileTrack[j]!);
        c.profileKind[pi] = s.profileKind[j]!;
        c.profileW[pi] = s.profileW[j]!;
        c.profileTs[pi] = s.profileTs[j]!;
        c.profileKindW[pi] = s.profileKindW[j]!;
      }
    } else {
      const ring = u.ring;
      for (let b = ring.size - 1; b >= 0; b--, ri++) {
        const e = ring.recent(b)!;
        c.ringTrack[ri] = trackOf(e);
        c.ringKind[ri] = KIND_CODE[e.kind];
        c.ringWeight[ri] = e.weight;
        c.ringTs[ri] = e.ts;
      }
      for (const p of u.profile) {
        c.profileTrack[pi] = trackOf(p);
        c.profileKind[pi] = KIND_CODE[p.kind];
        c.profileW[pi] = p.w;
        c.profileTs[pi] = p.ts;
        c.profileKindW[pi] = p.kindW;
        pi++;
      }
    }
    c.ringOffsets[k + 1] = ri;
    c.profileOffsets[k + 1] = pi;
  }
  c.tracks = dict.pack();
  return c;
}

/**
 * Checks `userColumns()` output completely (bounds, offsets, indices, kind codes, finite
 * numbers, repeated users or profile tracks) and returns the users it holds as
 * `RestoredUser`s, least recently active first; throws InvalidHandlerSnapshotError naming
 * the path of the first bad value. `item` resolves a track when a user is materialized.
 */
export function restoreUserColumns(
  raw: unknown,
  path: string,
  o: { historySize: number; profileSize: number; maxUsers: number },
  item: (trackId: string) => ItemState,
): [string, KnnUser][] {
  const v = obj(raw, path);
  const ids = unpackStrings(v['ids'], `${path}.ids`, o.maxUsers);
  const trackIds = unpackStrings(v['tracks'], `${path}.tracks`);
  const n = ids.length;
  const offsets = (key: string, total: number | undefined, max: number): Uint32Array => {
    const off = typed(v[key], Uint32Array, `${path}.${key}`, n + 1);
    if (off[0] !== 0) bad(`${path}.${key}[0]`, 'must be 0');
    for (let k = 0; k < n; k++) {
      const len = off[k + 1]! - off[k]!;
      if (len < 0 || len > max) bad(`${path}.${key}[${k + 1}]`, `must add 0..${max} entries`);
    }
    if (total !== undefined && off[n] !== total) bad(`${path}.${key}[${n}]`, `must be ${total}`);
    return off;
  };
  const ringOffsets = offsets('ringOffsets', undefined, o.historySize);
  const nRing = ringOffsets[n]!;
  const profileOffsets = offsets('profileOffsets', undefined, o.profileSize);
  const nProfile = profileOffsets[n]!;
  const c: UserColumns = {
    ids: v['ids'] as PackedStrings,
    tracks: v['tracks'] as PackedStrings,
    ringOffsets,
    ringTrack: typed(v['ringTrack'], Uint32Array, `${path}.ringTrack`, nRing),
    ringKind: typed(v['ringKind'], Uint8Array, `${path}.ringKind`, nRing),
    ringWeight: typed(v['ringWeight'], Float64Array, `${path}.ringWeight`, nRing),
    ringTs: typed(v['ringTs'], Float64Array, `${path}.ringTs`, nRing),
    profileOffsets,
    profileTrack: typed(v['profileTrack'], Uint32Array, `${path}.profileTrack`, nProfile),
    profileKind: typed(v['profileKind'], Uint8Array, `${path}.profileKind`, nProfile),
    profileW: typed(v['profileW'], Float64Array, `${path}.profileW`, nProfile),
    profileTs: typed(v['profileTs'], Float64Array, `${path}.profileTs`, nProfile),
    profileKindW: typed(v['profileKindW'], Float64Array, `${path}.profileKindW`, nProfile),
  };
  for (let t = 0; t < trackIds.length; t++) if (trackIds[t] === '') bad(`${path}.tracks[${t}]`, 'is empty');
  for (const key of ['ringTrack', 'profileTrack'] as const) {
    const col = c[key];
    for (let j = 0; j < col.length; j++)
      if (col[j]! >= trackIds.length) bad(`${path}.${key}[${j}]`, 'names no track');
  }
  for (const key of ['ringKind', 'profileKind'] as const) {
    const col = c[key];
    for (let j = 0; j < col.length; j++)
      if (col[j]! > 3) bad(`${path}.${key}[${j}]`, 'must be a kind code 0..3');
  }
  for (const key of ['ringWeight', 'ringTs', 'profileW', 'profileTs', 'profileKindW'] as const) {
    const col = c[key];
    for (let j = 0; j < col.length; j++)
      if (!Number.isFinite(col[j]!)) bad(`${path}.${key}[${j}]`, 'must be a finite number');
  }
  // A track at most once per profile: stamp each track with the last user that named it.
  const stamp = new Int32Array(trackIds.length).fill(-1);
  for (let k = 0; k < n; k++)
    for (let j = profileOffsets[k]!; j < profileOffsets[k + 1]!; j++) {
      const t = c.profileTrack[j]!;
      if (stamp[t] === k) bad(`${path}.profileTrack[${j}]`, `repeats track ${JSON.stringify(trackIds[t])}`);
      stamp[t] = k;
    }
  const seen = new Set<string>();
  for (let k = 0; k < n; k++) {
    const id = ids[k]!;
    if (id === '') bad(`${path}.ids[${k}]`, 'is empty');
    if (seen.has(id)) bad(`${path}.ids[${k}]`, `repeats user ${JSON.stringify(id)}`);
    seen.add(id);
  }
  int(n, `${path}.ids.length`, 0, o.maxUsers);
  const r: Restored = { c, trackIds, historySize: o.historySize, item };
  const out: [string, KnnUser][] = [];
  for (let k = 0; k < n; k++) out.push([ids[k]!, new RestoredUser(r, k)]);
  return out;
}
