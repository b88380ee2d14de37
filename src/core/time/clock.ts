/**
 * Time as a dependency. Windows, TTLs, rate limits, token expiry and timeouts read the
 * clock they are given, so tests can move time to a boundary without sleeping.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Runs `fn` after `ms`; timers never keep the process alive. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  setInterval(fn: () => void, ms: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  },
};

interface ManualTimer {
  at: number;
  every: number | undefined;
  fn: () => void;
  cancelled: boolean;
}

/** A clock for tests: time moves only when `tick()` or `set()` is called. */
export class ManualClock implements Clock {
  #now: number;
  #timers: ManualTimer[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, ms, undefined);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.#add(fn, ms, Math.max(1, ms));
  }

  /** Advances time by `ms`, firing due timers in order. */
  tick(ms: number): void {
    this.set(this.#now + ms);
  }

  set(time: number): void {
    for (;;) {
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= time).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#now = due.at;
      if (due.every === undefined) due.cancelled = true;
      else due.at += due.every;
      due.fn();
    }
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    this.#now = time;
  }

  #add(fn: () => void, ms: number, every: number | undefined): TimerHandle {
    const timer: ManualTimer = { at: this.#now + Math.max(0, ms), every, fn, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }
}
