import { createHash } from 'node:crypto';
import type { Strategy, Target } from './strategy.ts';

function hash32(s: string): number {
  return createHash('sha1').update(s).digest().readUInt32BE(0);
}

/**
 * Consistent hashing on the key (the user id): a ring of `vnodes` points per target
 * (scaled by weight), so a user keeps landing on the same node, and when a node leaves
 * or joins only about 1/N of users move. Without a key it falls back to the first
 * target of the ring for an empty string.
 */
export class ConsistentHashStrategy implements Strategy {
  readonly name = 'consistent-hash' as const;
  readonly #vnodes: number;
  #ringKey = '';
  #ring: Array<{ point: number; id: string }> = [];

  constructor(vnodes = 160) {
    this.#vnodes = vnodes;
  }

  pick<T extends Target>(candidates: readonly T[], key = ''): T | undefined {
    if (candidates.length === 0) return undefined;
    this.#build(candidates);
    const h = hash32(key);
    let lo = 0;
    let hi = this.#ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ring[mid]!.point < h) lo = mid + 1;
      else hi = mid;
    }
    const id = (this.#ring[lo] ?? this.#ring[0])!.id;
    return candidates.find((c) => c.id === id);
  }

  #build(candidates: readonly Target[]): void {
    const key = candidates.map((c) => `${c.id}*${c.weight}`).join('|');
    if (key === this.#ringKey) return;
    const ring: Array<{ point: number; id: string }> = [];
    for (const c of candidates) {
      const n = Math.max(1, Math.round(this.#vnodes * Math.max(0.1, c.weight)));
      for (let i = 0; i < n; i++) ring.push({ point: hash32(`${c.id}#${i}`), id: c.id });
    }
    ring.sort((a, b) => a.point - b.point);
    this.#ring = ring;
    this.#ringKey = key;
  }
}
