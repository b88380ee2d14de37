/**
 * The consent gate: nothing about a user is kept before their `analytics` consent is
 * known (SPEC §7). The consent of a user is looked up in the store (users never asked
 * have CONSENT_DEFAULT) and cached, bounded; `decide` (PUT consent) updates it at once.
 *
 * A user whose consent is not cached yet does not stall the stream: what analytics takes
 * of their events (a `Fact`: ids, numbers, the truncated network — never the raw event)
 * is *held* while lookups run in batches of up to `batchSize` users, one batch at a time,
 * and released to the service once the answer is in (granted: folded into a profile;
 * denied: dropped). Holding is bounded: with `highWater` facts held, `hold` returns a
 * promise the stream processor awaits (backpressure) until a batch is answered. A lookup
 * that keeps failing (`maxAttempts`, exponential backoff) drops what it held for those
 * users — unknown consent never keeps anything — and they are asked again on their next
 * event.
 *
 * Users with a profile are re-asked at most every `recheckMs` on their next event
 * (`recheck`): a consent withdrawn where `decide` was not called (another node, the store
 * edited directly) drops their profile then.
 */
import { boundedCache, type LRUCache } from '../core/cache/index.ts';
import type { Logger } from '../core/observability/index.ts';
import type { Clock } from '../core/time/index.ts';
import type { Fact } from './users.ts';

export interface ConsentFlags {
  analytics: boolean;
  personalization: boolean;
  marketing: boolean;
}

/** Store-backed: the consent of each asked user; users never asked are absent. */
export type ConsentLookup = (userIds: string[]) => Promise<Map<string, ConsentFlags>>;

export interface ConsentGateOptions {
  lookup: ConsentLookup;
  defaultGranted: boolean;
  clock: Clock;
  logger: Logger;
  /** Users whose consent is cached at most (least recently used first out). */
  maxCached: number;
  batchSize: number;
  highWater: number;
  maxAttempts: number;
  /** The consent of `userId` is known: the facts held for them, in arrival order (none for a recheck). */
  release: (userId: string, facts: Fact[], granted: boolean) => void;
}

export interface ConsentCounters {
  lookups: number;
  lookupErrors: number;
  granted: number;
  denied: number;
  /** Facts dropped because consent could not be read. */
  dropped: number;
}

export class ConsentGate {
  readonly #o: ConsentGateOptions;
  /** Bounded by `maxCached`; evicts the least recently used user in O(1) (lru-cache). */
  readonly #cache: LRUCache<string, boolean>;
  readonly #held = new Map<string, Fact[]>();
  #heldFacts = 0;
  #running = false;
  #backpressure: Array<() => void> = [];
  #idle: Array<() => void> = [];
  #failing = false;
  readonly counters: ConsentCounters = { lookups: 0, lookupErrors: 0, granted: 0, denied: 0, dropped: 0 };

  constructor(o: ConsentGateOptions) {
    this.#o = o;
    // maxSize (each entry 1), not max: `max` preallocates arrays for the whole bound up front
    // (~160 ms and tens of MB at 250k entries); this grows with use, same O(1) eviction.
    this.#cache = boundedCache(o.maxCached);
  }

  /** The cached `analytics` consent of a user, or undefined when not known yet. */
  known(userId: string): boolean | undefined {
    return this.#cache.get(userId);
  }

  /** Facts held while lookups run. */
  get heldFacts(): number {
    return this.#heldFacts;
  }

  get cachedUsers(): number {
    return this.#cache.size;
  }

  /** Holds a fact until the user's consent is known; a promise when over the high-water mark. */
  hold(userId: string, fact: Fact): Promise<void> | undefined {
    const list = this.#held.get(userId);
    if (list) list.push(fact);
    else this.#held.set(userId, [fact]);
    this.#heldFacts++;
    this.#schedule();
    if (this.#heldFacts < this.#o.highWater) return undefined;
    return new Promise((resolve) => this.#backpressure.push(resolve));
  }

  /** Asks the store again about a user with a profile (the answer goes to `release` with no facts). */
  recheck(userId: string): void {
    if (this.#held.has(userId)) return;
    this.#held.set(userId, []);
    this.#schedule();
  }

  /** The user's consent is now `granted` (PUT consent): cached, and what is held is released at once. */
  decide(userId: string, granted: boolean): void {
    this.#remember(userId, granted);
    const facts = this.#take(userId);
    this.#o.release(userId, facts ?? [], granted);
  }

  /** Erasure: forgets the cached consent and drops what is held. */
  forget(userId: string): void {
    this.#cache.delete(userId);
    this.#take(userId);
  }

  /** Resolves once nothing is held (every lookup answered). */
  settled(): Promise<void> {
    if (this.#held.size === 0 && !this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #take(userId: string): Fact[] | undefined {
    const facts = this.#held.get(userId);
    if (facts) {
      this.#held.delete(userId);
      this.#heldFacts -= facts.length;
    }
    return facts;
  }

  #remember(userId: string, granted: boolean): void {
    this.#cache.set(userId, granted);
  }

  #schedule(): void {
    if (this.#running) return;
    this.#running = true;
    // After the current synchronous run of events: one lookup covers the whole batch.
    queueMicrotask(() => void this.#pump());
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const batch: string[] = [];
        for (const userId of this.#held.keys()) {
          batch.push(userId);
          if (batch.length >= this.#o.batchSize) break;
        }
        if (batch.length === 0) break;
        const answer = await this.#ask(batch);
        for (const userId of batch) {
          // Decided (PUT consent) or erased while the lookup ran: that is newer than the answer.
          const facts = this.#take(userId);
          if (!facts) continue;
          if (!answer) {
            this.counters.dropped += facts.length;
            continue;
          }
          const flags = answer.get(userId);
          const granted = flags ? flags.analytics === true : this.#o.defaultGranted;
          if (granted) this.counters.granted++;
          else this.counters.denied++;
          this.#remember(userId, granted);
          this.#o.release(userId, facts, granted);
        }
        this.#wake(false);
      }
    } finally {
      this.#running = false;
      this.#wake(true);
    }
  }

  /** One batch, with retries; undefined when every attempt failed. */
  async #ask(batch: string[]): Promise<Map<string, ConsentFlags> | undefined> {
    for (let attempt = 1; ; attempt++) {
      this.counters.lookups++;
      try {
        const answer = await this.#o.lookup(batch);
        if (this.#failing)
          this.#o.logger.info({ users: batch.length }, 'analytics consent lookups recovered');
        this.#failing = false;
        return answer;
      } catch (err) {
        this.counters.lookupErrors++;
        if (!this.#failing)
          this.#o.logger.warn(
            { err, users: batch.length, attempt },
            'analytics consent lookup failed; retrying',
          );
        this.#failing = true;
        if (attempt >= this.#o.maxAttempts) {
          this.#o.logger.error(
            { users: batch.length, attempts: attempt },
            'analytics consent unavailable: personal data of these events dropped',
          );
          return undefined;
        }
        const delay = Math.min(5_000, 100 * 2 ** (attempt - 1));
        await new Promise<void>((resolve) => this.#o.clock.setTimeout(resolve, delay));
      }
    }
  }

  #wake(stopped: boolean): void {
    if (this.#heldFacts < this.#o.highWater || stopped) {
      const waiting = this.#backpressure;
      this.#backpressure = [];
      for (const resolve of waiting) resolve();
    }
    if (stopped && this.#held.size === 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    } else if (stopped && this.#held.size > 0) this.#schedule();
  }
}
