import { boundedCache, type LRUCache } from '../../core/cache/index.ts';
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
    for (const u of this.#users.values()) m = Math.max(m, u.ring.size);
    return m;
  }

  maxProfileSize(): number {
    let m = 0;
    for (const u of this.#users.values()) m = Math.max(m, u.profile.length);
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
