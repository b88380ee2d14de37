/**
 * Quiet hours (SPEC §6): `{"start":"22:00","end":"07:00"}` in the user's time zone. The
 * window is [start, end) in local wall-clock minutes; `start > end` crosses midnight;
 * `start == end` is an empty window (never quiet). DST-correct: membership is decided on
 * the local clock reading, and the end is the first instant the clock reads outside.
 */
import { BadRequestError } from '../../core/errors/index.ts';
import { DAY_MS, localMinuteOfDay, localTime, nextWallInstant, offsetChangeBetween } from './zoned.ts';

export interface QuietHours {
  /** `HH:MM`, 24-hour local time, inclusive. */
  start: string;
  /** `HH:MM`, 24-hour local time, exclusive. */
  end: string;
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** `"07:30"` → 450 (minutes since midnight); throws `BadRequestError` on anything else. */
export function parseClock(value: string): number {
  const m = typeof value === 'string' ? HHMM.exec(value) : null;
  if (!m)
    throw new BadRequestError(`a time of day must be "HH:MM" (00:00–23:59), got ${JSON.stringify(value)}`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** Validates a quiet-hours definition (both ends `HH:MM`); throws `BadRequestError`. */
export function validateQuietHours(quiet: QuietHours): void {
  if (typeof quiet !== 'object' || quiet === null)
    throw new BadRequestError('quietHours must be {"start","end"}');
  parseClock(quiet.start);
  parseClock(quiet.end);
}

function inWindow(minuteOfDay: number, start: number, end: number): boolean {
  if (start === end) return false;
  return start < end ? minuteOfDay >= start && minuteOfDay < end : minuteOfDay >= start || minuteOfDay < end;
}

/** True when the local clock at `nowMs` in `timezone` is inside the quiet window. */
export function inQuietHours(nowMs: number, quiet: QuietHours, timezone: string): boolean {
  const t = localTime(nowMs, timezone);
  return inWindow(t.hour * 60 + t.minute, parseClock(quiet.start), parseClock(quiet.end));
}

/**
 * When a notification held at `nowMs` may go out: `nowMs` itself outside quiet hours,
 * else the first later instant at which the local clock reads outside the window (the
 * `end` time, or — when `end` falls in a DST gap — the moment the clocks jump past it).
 * Within 24 h when no DST change intervenes. Across one: plus what the clocks go back (a
 * 23 h 59 min window entered just before New York's fall back lasts 24 h 59 min), and if
 * the clocks jump over all of that night's free time (London, window 01:18–01:17 on a
 * spring-forward night) the next night's free time, under 48 h away.
 */
export function quietHoursEnd(nowMs: number, quiet: QuietHours, timezone: string): number {
  const start = parseClock(quiet.start);
  const end = parseClock(quiet.end);
  let t = nowMs;
  // One step almost always suffices; a window that resumes inside a DST gap (Paris,
  // 02:01–02:00 on a spring-forward night: the clock jumps from 01:59:59 to 03:00, in the
  // window again) needs a second. Four steps is a bound, not a budget.
  for (let step = 0; step < 4 && inWindow(localMinuteOfDay(t, timezone), start, end); step++) {
    t = nextExit(t, start, end, timezone);
  }
  return t;
}

/** The next instant after `t` at which the clock reads `end`, or leaves the window going back. */
function nextExit(t: number, start: number, end: number, timezone: string): number {
  // The first time the clock reads `end` after t; when clocks go back, that can be the
  // second reading of a repeated time (the first one was before t).
  const at = nextWallInstant(t, Math.floor(end / 60), end % 60, timezone) ?? t + DAY_MS; // `??`: unreachable
  // Clocks going back can leave the window before `end` (New York, window 01:30–03:00:
  // 01:59:59 EDT → 01:00 EST, outside): then it ends at that change.
  const change = offsetChangeBetween(t, at, timezone);
  if (change !== undefined && change < at && !inWindow(localMinuteOfDay(change, timezone), start, end))
    return change;
  return at;
}
