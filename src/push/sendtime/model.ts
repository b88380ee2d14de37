/**
 * The send-time model (`sendAt: "optimal"`, SPEC §6): each user's best local hour, learned
 * from their own `app.opened` and `notification.opened` events.
 *
 * Per user: 24 decayed counts, one per local hour (the hour in the user's time zone when
 * the event happened), and the time they were last brought up to date. Each event adds
 * its kind's weight to its hour; all counts halve every `halfLifeMs`, so habits that
 * change are followed. The answer is the hour with the most weight after a circular
 * smoothing (23 h neighbours 0 h), so one busy hour flanked by busy neighbours beats an
 * isolated spike; below `minEvidence` (decayed events) the answer is the default hour.
 * Pure and synchronous: times come from the events and the caller, never from a clock.
 */
import { boundedCache, type LRUCache } from '../../core/cache/index.ts';
import { BadRequestError } from '../../core/errors/index.ts';
import { localHour } from '../schedule/index.ts';

export type SendTimeSignal = 'app.opened' | 'notification.opened';

export interface SendTimeOptions {
  /** Weights halve every this many ms. Default 14 days. */
  halfLifeMs: number;
  /** Decayed, weighted events a user needs for a learned hour. Default 4. */
  minEvidence: number;
  /** Symmetric, odd-length smoothing kernel over neighbouring hours. Default [1, 2, 1]. */
  kernel: number[];
  /**
   * What each event kind adds. Default app.opened 1, notification.opened 0.5: a
   * notification can only be opened after we sent it, so those opens cluster at the hours
   * we already send at (see README).
   */
  weights: Record<SendTimeSignal, number>;
  /** The hour for users without enough history (SPEC: `defaultSendHour`, 18). */
  defaultHour: number;
  /** Users modelled; the least recently observed is forgotten beyond it. Default 1,000,000. */
  maxUsers: number;
}

/** Constructor options: any of `SendTimeOptions`, with `weights` per kind. */
export type SendTimeInit = Partial<Omit<SendTimeOptions, 'weights'>> & {
  weights?: Partial<Record<SendTimeSignal, number>>;
};

export const SEND_TIME_DEFAULTS: Readonly<SendTimeOptions> = Object.freeze({
  halfLifeMs: 14 * 86_400_000,
  minEvidence: 4,
  kernel: [1, 2, 1],
  weights: { 'app.opened': 1, 'notification.opened': 0.5 },
  defaultHour: 18,
  maxUsers: 1_000_000,
});

export interface BestHour {
  /** 0–23, in the user's time zone. */
  localHour: number;
  basis: 'learned' | 'default';
  /** The decayed, weighted events behind it (at `nowMs`). */
  evidence: number;
}

/** Plain JSON: `users` are `[userId, lastUpdateMs, 24 counts]`, least recently observed first. */
export interface SendTimeSnapshot {
  version: 1;
  halfLifeMs: number;
  users: Array<[string, number, number[]]>;
}

/**
 * The same state as columns (stream snapshots: no array per user, so `v8.serialize` copies
 * it at memory speed): ids concatenated with their lengths, `last` per user, 24 counts per
 * user back to back; least recently observed first.
 */
export interface SendTimeColumns {
  version: 2;
  halfLifeMs: number;
  idText: string;
  idLengths: Uint32Array;
  last: Float64Array;
  hours: Float64Array;
}

export class InvalidSendTimeSnapshotError extends BadRequestError {
  constructor(problem: string) {
    super(`invalid send-time snapshot: ${problem}`);
    this.name = 'InvalidSendTimeSnapshotError';
  }
}

interface UserHours {
  /** Counts as of `last`. */
  hours: Float64Array;
  last: number;
}

const isHour = (h: number): boolean => Number.isInteger(h) && h >= 0 && h <= 23;

export class SendTimeModel {
  readonly options: Readonly<SendTimeOptions>;
  /**
   * Recency is observation: `observe` uses `get`/`set` (most recent), reads use `peek`.
   * Over `maxUsers` the least recently observed user goes, in O(1) (lru-cache; a Map
   * evicting `keys().next()` slows to O(size) per eviction once full and churning).
   */
  readonly #users: LRUCache<string, UserHours>;
  readonly #kernel: Float64Array;

  constructor(options: SendTimeInit = {}) {
    const o = {
      ...SEND_TIME_DEFAULTS,
      ...options,
      weights: { ...SEND_TIME_DEFAULTS.weights, ...options.weights },
    };
    if (!(o.halfLifeMs > 0)) throw new RangeError('halfLifeMs must be positive (Infinity: no decay)');
    if (!(o.minEvidence >= 0)) throw new RangeError('minEvidence must be ≥ 0');
    if (
      o.kernel.length % 2 !== 1 ||
      o.kernel.length > 23 ||
      o.kernel.some((w) => !(w >= 0)) ||
      !o.kernel.some((w) => w > 0)
    ) {
      throw new RangeError('kernel must have an odd length ≤ 23 and non-negative weights, not all 0');
    }
    if (!isHour(o.defaultHour)) throw new RangeError('defaultHour must be an integer 0–23');
    if (!(o.maxUsers >= 1)) throw new RangeError('maxUsers must be ≥ 1');
    this.options = Object.freeze(o);
    this.#kernel = Float64Array.from(o.kernel);
    // maxSize (each entry 1), not max: `max` preallocates arrays for the whole bound up front
    // (~160 ms and tens of MB at 250k entries); this grows with use, same O(1) eviction.
    this.#users = boundedCache(o.maxUsers);
  }

  /** Users modelled. */
  get size(): number {
    return this.#users.size;
  }

  /**
   * Learns from one event of `userId` at `tsMs` in `timezone` (the user's, at that time).
   * Events may arrive late: an older one is added with the decay it has had since.
   * Throws `InvalidTimeZoneError` for an unknown zone; ignores a non-finite time.
   */
  observe(userId: string, tsMs: number, kind: SendTimeSignal, timezone: string): void {
    if (!Number.isFinite(tsMs)) return;
    const weight = this.options.weights[kind] ?? 0;
    const hour = localHour(tsMs, timezone);
    if (!(weight > 0)) return;
    // get: now the most recently observed; set of a new user evicts the least recent one.
    let user = this.#users.get(userId);
    if (!user) {
      user = { hours: new Float64Array(24), last: tsMs };
      this.#users.set(userId, user);
    }
    if (tsMs >= user.last) {
      const f = this.#decay(tsMs - user.last);
      if (f !== 1) for (let h = 0; h < 24; h++) user.hours[h]! *= f;
      user.last = tsMs;
      user.hours[hour]! += weight;
    } else {
      user.hours[hour]! += weight * this.#decay(user.last - tsMs);
    }
  }

  /**
   * The hour to send to `userId` at. `nowMs` (default: the user's last event) decays the
   * evidence: a user silent for months falls back to the default. `defaultHour` overrides
   * the model's default (a notification's `defaultSendHour`).
   */
  bestHour(userId: string, opts: { nowMs?: number; defaultHour?: number } = {}): BestHour {
    const fallback = opts.defaultHour ?? this.options.defaultHour;
    if (!isHour(fallback)) throw new RangeError('defaultHour must be an integer 0–23');
    const user = this.#users.peek(userId);
    if (!user) return { localHour: fallback, basis: 'default', evidence: 0 };
    const age = opts.nowMs !== undefined && opts.nowMs > user.last ? opts.nowMs - user.last : 0;
    const f = this.#decay(age);
    let evidence = 0;
    for (let h = 0; h < 24; h++) evidence += user.hours[h]!;
    evidence *= f;
    if (evidence < this.options.minEvidence || evidence === 0)
      return { localHour: fallback, basis: 'default', evidence };
    const smooth = this.smoothed(user.hours);
    // Visit hours nearest the default first (d, d+1, d−1, d+2, …): a tie goes to the
    // hour closest to the default, and the answer is deterministic.
    let best = fallback;
    for (let step = 1; step < 24; step++) {
      const offset = step % 2 === 1 ? (step + 1) / 2 : -step / 2;
      const h = (fallback + offset + 24) % 24;
      if (smooth[h]! > smooth[best]!) best = h;
    }
    return { localHour: best, basis: 'learned', evidence };
  }

  /** The user's decayed counts per local hour as of `nowMs` (default: their last event); undefined if unknown. */
  histogram(userId: string, nowMs?: number): number[] | undefined {
    const user = this.#users.peek(userId);
    if (!user) return undefined;
    const f = this.#decay(nowMs !== undefined && nowMs > user.last ? nowMs - user.last : 0);
    return Array.from(user.hours, (w) => w * f);
  }

  /** Circular convolution of 24 hourly counts with the kernel. */
  smoothed(hours: ArrayLike<number>): Float64Array {
    const out = new Float64Array(24);
    const k = this.#kernel;
    const half = (k.length - 1) / 2;
    for (let h = 0; h < 24; h++) {
      let s = 0;
      for (let j = 0; j < k.length; j++) s += k[j]! * (hours[(h + j - half + 24) % 24] ?? 0);
      out[h] = s;
    }
    return out;
  }

  /** Drops what is known about `userId` (erasure). */
  forget(userId: string): boolean {
    return this.#users.delete(userId);
  }

  snapshot(): SendTimeSnapshot {
    const users: SendTimeSnapshot['users'] = [];
    // rkeys(): least recently observed first, the snapshot's order; peek keeps recency.
    for (const id of this.#users.rkeys()) {
      const u = this.#users.peek(id)!;
      users.push([id, u.last, Array.from(u.hours)]);
    }
    return { version: 1, halfLifeMs: this.options.halfLifeMs, users };
  }

  /** The state as columns (see SendTimeColumns). */
  snapshotColumns(): SendTimeColumns {
    const n = this.#users.size;
    const ids: string[] = [];
    const idLengths = new Uint32Array(n);
    const last = new Float64Array(n);
    const hours = new Float64Array(n * 24);
    let i = 0;
    for (const id of this.#users.rkeys()) {
      const u = this.#users.peek(id)!;
      ids.push(id);
      idLengths[i] = id.length;
      last[i] = u.last;
      hours.set(u.hours, i * 24);
      i++;
    }
    return { version: 2, halfLifeMs: this.options.halfLifeMs, idText: ids.join(''), idLengths, last, hours };
  }

  /** Replaces the state with a `snapshotColumns()`; validates all of it first (throws, state unchanged). */
  restoreColumns(snapshot: unknown): void {
    const s = snapshot as Partial<SendTimeColumns> | null;
    if (typeof s !== 'object' || s === null || s.version !== 2)
      throw new InvalidSendTimeSnapshotError('expected send-time columns of version 2');
    const { idText, idLengths, last, hours } = s;
    if (typeof idText !== 'string' || !(idLengths instanceof Uint32Array))
      throw new InvalidSendTimeSnapshotError('bad ids');
    const n = idLengths.length;
    if (
      !(last instanceof Float64Array) ||
      last.length !== n ||
      !(hours instanceof Float64Array) ||
      hours.length !== n * 24
    )
      throw new InvalidSendTimeSnapshotError(`expected ${n} times and ${n * 24} counts`);
    for (let i = 0; i < n; i++)
      if (!Number.isFinite(last[i]!))
        throw new InvalidSendTimeSnapshotError(`user ${i}: bad last update time`);
    for (let j = 0; j < hours.length; j++)
      if (!(hours[j]! >= 0) || !Number.isFinite(hours[j]!))
        throw new InvalidSendTimeSnapshotError(
          `user ${Math.floor(j / 24)} needs 24 finite, non-negative counts`,
        );
    const next = new Map<string, UserHours>();
    let at = 0;
    for (let i = 0; i < n; i++) {
      const end = at + idLengths[i]!;
      if (end > idText.length) throw new InvalidSendTimeSnapshotError('ids run past their text');
      const id = idText.slice(at, end);
      at = end;
      if (next.has(id)) throw new InvalidSendTimeSnapshotError(`user ${JSON.stringify(id)} appears twice`);
      next.set(id, { hours: hours.slice(i * 24, i * 24 + 24), last: last[i]! });
    }
    if (at !== idText.length) throw new InvalidSendTimeSnapshotError('ids do not cover their text');
    this.#users.clear();
    for (const [id, u] of next) this.#users.set(id, u);
  }

  /** Replaces the state with a snapshot; validates all of it first (throws, state unchanged). */
  restore(snapshot: unknown): void {
    const s = snapshot as Partial<SendTimeSnapshot> | null;
    if (typeof s !== 'object' || s === null || s.version !== 1)
      throw new InvalidSendTimeSnapshotError('expected {"version":1,…}');
    if (!Array.isArray(s.users)) throw new InvalidSendTimeSnapshotError('users must be an array');
    const next = new Map<string, UserHours>();
    // A snapshot taken with another half-life holds counts decayed at that rate: rescaling
    // is impossible, but they are still counts as of `last`, so they are kept as they are.
    for (const [i, entry] of s.users.entries()) {
      const [id, last, hours] = Array.isArray(entry) ? (entry as unknown[]) : [];
      if (typeof id !== 'string' || typeof last !== 'number' || !Number.isFinite(last)) {
        throw new InvalidSendTimeSnapshotError(`users[${i}] must be [userId, lastUpdateMs, 24 counts]`);
      }
      if (
        !Array.isArray(hours) ||
        hours.length !== 24 ||
        hours.some((w) => typeof w !== 'number' || !(w >= 0) || !Number.isFinite(w))
      ) {
        throw new InvalidSendTimeSnapshotError(`users[${i}] needs 24 finite, non-negative counts`);
      }
      if (next.has(id)) throw new InvalidSendTimeSnapshotError(`user ${JSON.stringify(id)} appears twice`);
      next.set(id, { hours: Float64Array.from(hours as number[]), last });
    }
    // In order, least recent first: past `maxUsers` the cache drops the oldest, so the
    // most recent `maxUsers` (the end of the list) are kept.
    this.#users.clear();
    for (const [id, u] of next) this.#users.set(id, u);
  }

  #decay(ageMs: number): number {
    return ageMs <= 0 || this.options.halfLifeMs === Infinity
      ? 1
      : Math.pow(2, -ageMs / this.options.halfLifeMs);
  }
}
