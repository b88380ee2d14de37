/**
 * The overview's own numbers: events folded (all users: an anonymous total), the live
 * event rate, and active users (consenting users only, by HyperLogLog over their
 * pseudonym hashes: a count, nobody named).
 */
import { HyperLogLog } from '../streaming/index.ts';

/** Rate over the last this many whole seconds (processing time, live events only). */
const RATE_SECONDS = 10;
/** Active users: a distinct event in the last ACTIVE_MINUTES minutes (event time). */
export const ACTIVE_MINUTES = 15;
const MINUTE = 60_000;

export class ActivityCounters {
  /** Events folded since start (replayed ones included). */
  total = 0;
  /** Per event kind (see profile.ts EventKind). */
  readonly byKind = new Float64Array(6);
  readonly #seconds = new Float64Array(RATE_SECONDS + 1);
  #secondHead = -1;
  readonly #minutes: Array<HyperLogLog | undefined> = new Array<HyperLogLog | undefined>(ACTIVE_MINUTES).fill(
    undefined,
  );
  #minuteHead = -1;

  /** Counts one event of `kind`; live events also feed the rate. */
  count(kind: number, replay: boolean, now: number): void {
    this.total++;
    this.byKind[kind]!++;
    if (replay) return;
    const s = Math.floor(now / 1000);
    const n = this.#seconds.length;
    if (s > this.#secondHead) {
      const clear = Math.min(n, s - this.#secondHead);
      for (let k = 1; k <= clear; k++) this.#seconds[(s - clear + k) % n] = 0;
      this.#secondHead = s;
    } else if (s <= this.#secondHead - n) return;
    this.#seconds[s % n]!++;
  }

  /** Events per second over the last RATE_SECONDS whole seconds. */
  perSecond(now: number): number {
    const s = Math.floor(now / 1000);
    const n = this.#seconds.length;
    let sum = 0;
    // Seconds s−RATE_SECONDS … s−1 (the current second is still filling).
    for (let k = s - RATE_SECONDS; k < s; k++)
      if (k <= this.#secondHead && k > this.#secondHead - n) sum += this.#seconds[k % n]!;
    return Math.round((sum / RATE_SECONDS) * 100) / 100;
  }

  /** A consenting user (64-bit pseudonym hash) was active at event time `t`. */
  active(t: number, hi: number, lo: number): void {
    const m = Math.floor(t / MINUTE);
    if (m > this.#minuteHead) {
      const clear = Math.min(ACTIVE_MINUTES, m - this.#minuteHead);
      for (let k = 1; k <= clear; k++) this.#minutes[(m - clear + k) % ACTIVE_MINUTES] = undefined;
      this.#minuteHead = m;
    } else if (m <= this.#minuteHead - ACTIVE_MINUTES) return;
    (this.#minutes[m % ACTIVE_MINUTES] ??= new HyperLogLog(12)).addHash(hi, lo);
  }

  /** Distinct consenting users with an event in the last ACTIVE_MINUTES minutes. */
  activeUsers(now: number): number {
    const m = Math.floor(now / MINUTE);
    const merged = new HyperLogLog(12);
    const from = Math.max(m, this.#minuteHead) - ACTIVE_MINUTES + 1;
    for (let k = from; k <= Math.min(m, this.#minuteHead); k++) {
      const h = this.#minutes[k % ACTIVE_MINUTES];
      if (h) merged.merge(h);
    }
    return Math.round(merged.estimate());
  }

  /** The counters as they are (stream snapshots). */
  snapshot(): unknown {
    return {
      total: this.total,
      byKind: this.byKind,
      seconds: this.#seconds,
      secondHead: this.#secondHead,
      minutes: this.#minutes.map((h) => h?.toJSON() ?? null),
      minuteHead: this.#minuteHead,
    };
  }

  /** Checks a `snapshot()`; returns what puts it in place (nothing changes before). */
  prepareRestore(v: unknown): () => void {
    const fail = (what: string): never => {
      throw new TypeError(`analytics activity snapshot: ${what}`);
    };
    const s = (typeof v === 'object' && v !== null ? v : fail('not an object')) as Record<string, unknown>;
    const { total, secondHead, minuteHead, byKind, seconds, minutes } = s;
    if (typeof total !== 'number' || typeof secondHead !== 'number' || typeof minuteHead !== 'number')
      fail('bad counters');
    if (!(byKind instanceof Float64Array) || byKind.length !== this.byKind.length) fail('bad byKind');
    if (!(seconds instanceof Float64Array) || seconds.length !== this.#seconds.length) fail('bad seconds');
    if (!Array.isArray(minutes) || minutes.length !== ACTIVE_MINUTES) fail('bad minutes');
    const sketches = (minutes as unknown[]).map((j) =>
      j === null ? undefined : HyperLogLog.fromJSON(j as Parameters<typeof HyperLogLog.fromJSON>[0]),
    );
    return () => {
      this.total = total as number;
      this.byKind.set(byKind as Float64Array);
      this.#seconds.set(seconds as Float64Array);
      this.#secondHead = secondHead as number;
      for (let i = 0; i < ACTIVE_MINUTES; i++) this.#minutes[i] = sketches[i];
      this.#minuteHead = minuteHead as number;
    };
  }

  approxBytes(): number {
    let bytes = 400;
    for (const h of this.#minutes) if (h) bytes += h.sparse ? 400 : 4096 + 96;
    return bytes;
  }
}
