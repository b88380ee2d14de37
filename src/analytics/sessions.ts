/**
 * Listening sessions of one user in event time (SPEC §7: a session ends after
 * SESSION_GAP_MINUTES without events). A session is a maximal run of the user's events in
 * which consecutive events are less than `gap` apart; its duration is last event − first
 * event (PostHog's definition: a single-event session lasts 0 ms).
 *
 * Events may arrive out of order. Each user keeps its *open* sessions (sorted, disjoint,
 * at most `maxOpen`) as [start, last] pairs; an event joins every open session it is less
 * than `gap` from (bridging two merges them), else opens one. A session is final once the
 * user's newest event time is ≥ its last event + gap + grace: an event at most `grace`
 * older than the newest one can no longer reach it. Final sessions fold into a count and
 * a summed duration, and `horizon` (the latest last + gap among them) marks where the past
 * is closed: an event before it is late and does not change the sessions (`add` returns
 * false). So any arrival order whose lateness stays within `grace` gives the same sessions
 * — those of the sorted stream.
 *
 * The state is a run of float64 slots inside the user's record (users.ts), so a user's
 * sessions cost no object of their own: [closedCount, closedDurationMs, horizon, maxTs,
 * openCount, start0, last0, start1, last1, …].
 */
const CLOSED = 0;
const CLOSED_MS = 1;
const HORIZON = 2;
const MAX_TS = 3;
const OPEN = 4;
const PAIRS = 5;

export interface SessionRules {
  gapMs: number;
  graceMs: number;
  /** Open sessions kept per user; the oldest is made final beyond it. */
  maxOpen: number;
}

/** Float64 slots one user's session state takes (one pair of room beyond maxOpen for an insert). */
export const sessionSlots = (maxOpen: number): number => PAIRS + 2 * (maxOpen + 1);

/** The open sessions a user can have while every event is within grace, plus slack. */
export const maxOpenSessions = (gapMs: number, graceMs: number): number =>
  Math.ceil((gapMs + graceMs) / gapMs) + 2;

/** Resets the state at `s[at…]` to "no sessions". */
export function clearSessions(s: Float64Array, at: number, maxOpen: number): void {
  s.fill(0, at, at + sessionSlots(maxOpen));
  s[at + HORIZON] = -Infinity;
  s[at + MAX_TS] = -Infinity;
}

/** Adds an event at `t` to the state at `s[at…]`; false when it is late (before the horizon) and changed nothing. */
export function addToSessions(s: Float64Array, at: number, t: number, r: SessionRules): boolean {
  if (t < s[at + HORIZON]!) return false;
  const gap = r.gapMs;
  const p = at + PAIRS;
  let n = s[at + OPEN]!;
  // The open sessions the event reaches (contiguous: they are sorted and disjoint).
  let first = -1;
  let last = -1;
  let insertAt = n;
  for (let i = 0; i < n; i++) {
    const start = s[p + 2 * i]!;
    if (t > start - gap && t < s[p + 2 * i + 1]! + gap) {
      if (first < 0) first = i;
      last = i;
    } else if (t <= start - gap && insertAt === n) insertAt = i;
  }
  if (first < 0) {
    for (let i = p + 2 * n - 1; i >= p + 2 * insertAt; i--) s[i + 2] = s[i]!;
    s[p + 2 * insertAt] = t;
    s[p + 2 * insertAt + 1] = t;
    n++;
  } else {
    s[p + 2 * first] = Math.min(s[p + 2 * first]!, t);
    s[p + 2 * first + 1] = Math.max(s[p + 2 * last + 1]!, t);
    if (last > first) {
      // Bridged: the merged session replaces first..last.
      shiftDown(s, p + 2 * first + 2, p + 2 * last + 2, p + 2 * n);
      n -= last - first;
    }
  }
  if (t > s[at + MAX_TS]!) s[at + MAX_TS] = t;
  // Sessions no event within grace can reach any more become final; so do the oldest beyond maxOpen.
  const closeBefore = s[at + MAX_TS]! - gap - r.graceMs;
  let k = 0;
  while (k < n && (s[p + 2 * k + 1]! <= closeBefore || n - k > r.maxOpen)) {
    closeSession(s, at, s[p + 2 * k]!, s[p + 2 * k + 1]!, gap);
    k++;
  }
  if (k > 0) {
    shiftDown(s, p, p + 2 * k, p + 2 * n);
    n -= k;
  }
  s[at + OPEN] = n;
  return true;
}

/** s[to…] = s[from…end) (a few slots: a loop beats a builtin call). */
function shiftDown(s: Float64Array, to: number, from: number, end: number): void {
  for (let i = from; i < end; i++) s[to + i - from] = s[i]!;
}

function closeSession(s: Float64Array, at: number, start: number, last: number, gap: number): void {
  s[at + CLOSED]!++;
  s[at + CLOSED_MS]! += last - start;
  if (last + gap > s[at + HORIZON]!) s[at + HORIZON] = last + gap;
}

/** Sessions so far (final and open) and their mean duration. */
export function sessionSummary(s: Float64Array, at: number): { count: number; avgDurationMs: number } {
  const n = s[at + OPEN]!;
  let count = s[at + CLOSED]!;
  let total = s[at + CLOSED_MS]!;
  for (let i = 0; i < n; i++) {
    count++;
    total += s[at + PAIRS + 2 * i + 1]! - s[at + PAIRS + 2 * i]!;
  }
  return { count, avgDurationMs: count === 0 ? 0 : Math.round(total / count) };
}

/** The open sessions as [start, last] pairs (export). */
export function openSessions(s: Float64Array, at: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < s[at + OPEN]!; i++) out.push([s[at + PAIRS + 2 * i]!, s[at + PAIRS + 2 * i + 1]!]);
  return out;
}

/** The horizon (events before it are late) and the number of final sessions (tests, export). */
export const sessionHorizon = (s: Float64Array, at: number): number => s[at + HORIZON]!;
export const closedSessions = (s: Float64Array, at: number): number => s[at + CLOSED]!;
