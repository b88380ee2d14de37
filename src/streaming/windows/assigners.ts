/**
 * Window assigners (event time, milliseconds). Windows are half-open, [start, end):
 * - `tumbling(size)`: fixed, non-overlapping windows; start ≡ offset (mod size). An event at
 *   end − 1 is in the window, an event at end is in the next one.
 * - `sliding(size, slide)` (hopping): windows of `size` starting every `slide`
 *   (start ≡ offset mod slide), so an event belongs to size/slide windows. Integer ms,
 *   slide ≤ size. The aggregator keeps one pane per gcd(size, slide) and merges panes
 *   when a window fires, so an event updates one pane, not size/slide windows.
 * - `session(gap)`: per key, an event at t opens [t, t + gap); windows of the same key
 *   that overlap are merged, so a session is [first event, last event + gap) and two
 *   events exactly `gap` apart are in different sessions. A late event that overlaps two
 *   sessions bridges them into one.
 */

export interface WindowBounds {
  start: number;
  end: number;
}

export interface TumblingWindows {
  readonly kind: 'tumbling';
  readonly sizeMs: number;
  readonly offsetMs: number;
}

export interface SlidingWindows {
  readonly kind: 'sliding';
  readonly sizeMs: number;
  readonly slideMs: number;
  readonly offsetMs: number;
}

export interface SessionWindows {
  readonly kind: 'session';
  readonly gapMs: number;
}

export type WindowAssigner = TumblingWindows | SlidingWindows | SessionWindows;

export interface AlignOptions {
  /** Shifts the window grid: starts are ≡ offsetMs (mod slide). Default 0 (epoch-aligned). */
  offsetMs?: number;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v <= 0)
    throw new RangeError(`${name} must be a positive integer (ms), got ${v}`);
}

function offsetOf(options: AlignOptions): number {
  const o = options.offsetMs ?? 0;
  if (!Number.isSafeInteger(o)) throw new RangeError(`offsetMs must be an integer (ms), got ${o}`);
  return o;
}

export function tumbling(sizeMs: number, options: AlignOptions = {}): TumblingWindows {
  positiveInt('tumbling sizeMs', sizeMs);
  return { kind: 'tumbling', sizeMs, offsetMs: mod(offsetOf(options), sizeMs) };
}

export function sliding(sizeMs: number, slideMs: number, options: AlignOptions = {}): SlidingWindows {
  positiveInt('sliding sizeMs', sizeMs);
  positiveInt('sliding slideMs', slideMs);
  if (slideMs > sizeMs)
    throw new RangeError(`sliding slideMs (${slideMs}) must not exceed sizeMs (${sizeMs})`);
  return { kind: 'sliding', sizeMs, slideMs, offsetMs: mod(offsetOf(options), slideMs) };
}

export function session(gapMs: number): SessionWindows {
  positiveInt('session gapMs', gapMs);
  return { kind: 'session', gapMs };
}

/** Non-negative remainder. */
export function mod(a: number, b: number): number {
  const r = a % b;
  return r < 0 ? r + b : r;
}

export function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The windows (ascending) an event at `t` belongs to; for sessions, its own [t, t + gap). */
export function assignWindows(assigner: WindowAssigner, t: number): WindowBounds[] {
  switch (assigner.kind) {
    case 'tumbling': {
      const start = t - mod(t - assigner.offsetMs, assigner.sizeMs);
      return [{ start, end: start + assigner.sizeMs }];
    }
    case 'sliding': {
      const { sizeMs, slideMs, offsetMs } = assigner;
      const last = t - mod(t - offsetMs, slideMs);
      const out: WindowBounds[] = [];
      for (let start = last; start > t - sizeMs; start -= slideMs) out.push({ start, end: start + sizeMs });
      return out.reverse();
    }
    case 'session':
      return [{ start: t, end: t + assigner.gapMs }];
  }
}
