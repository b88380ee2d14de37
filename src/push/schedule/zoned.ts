/**
 * Wall-clock time in IANA time zones with nothing but `Intl` (no tz database of our own):
 * the local date and time of an instant, the zone's UTC offset at an instant, and the
 * instant at which a local wall-clock time is first reached (DST-correct). Pure: every
 * function takes the instant; none reads the clock.
 */
import { BadRequestError } from '../../core/errors/index.ts';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** A time zone that `Intl` does not know (400). */
export class InvalidTimeZoneError extends BadRequestError {
  readonly timezone: string;
  constructor(timezone: string) {
    super(`unknown time zone: ${JSON.stringify(timezone)}`, { details: { timezone } });
    this.name = 'InvalidTimeZoneError';
    this.timezone = timezone;
  }
}

/** The wall clock of an instant in a zone. `month` is 1–12, `hour` 0–23. */
export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/**
 * One formatter per zone (creating one costs ~50 µs, using it ~2 µs). Valid IANA names are
 * a few hundred, but the names come from users, so the cache is bounded anyway: when
 * full it is cleared (cheap to rebuild, and only a flood of distinct valid names does it).
 */
const MAX_FORMATTERS = 1024;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timezone: string): Intl.DateTimeFormat {
  const cached = formatters.get(timezone);
  if (cached) return cached;
  let fmt: Intl.DateTimeFormat;
  try {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  } catch {
    throw new InvalidTimeZoneError(timezone);
  }
  if (formatters.size >= MAX_FORMATTERS) formatters.clear();
  formatters.set(timezone, fmt);
  return fmt;
}

/** True when `Intl` knows the zone (an IANA name such as `Europe/Paris`, or `UTC`). */
export function isValidTimeZone(timezone: string): boolean {
  if (typeof timezone !== 'string' || timezone.length === 0 || timezone.length > 64) return false;
  try {
    formatterFor(timezone);
    return true;
  } catch {
    return false;
  }
}

/** Throws `InvalidTimeZoneError` unless the zone is known. */
export function assertTimeZone(timezone: string): void {
  if (!isValidTimeZone(timezone)) throw new InvalidTimeZoneError(String(timezone));
}

/** The local date and time of `ms` in `timezone`, straight from `Intl` (~2.5 µs; `localTime` caches). */
export function intlLocalTime(ms: number, timezone: string): LocalTime {
  const out: LocalTime = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatterFor(timezone).formatToParts(ms)) {
    switch (part.type) {
      case 'year':
      case 'month':
      case 'day':
      case 'hour':
      case 'minute':
      case 'second':
        out[part.type] = Number(part.value);
        break;
      default:
        break;
    }
  }
  return out;
}

function intlOffset(ms: number, timezone: string): number {
  const whole = Math.floor(ms / 1000) * 1000; // the formatter has no milliseconds
  return wallMs(intlLocalTime(whole, timezone)) - whole;
}

/**
 * Offsets by (zone, UTC hour): the offset when it is the same at the first and the last
 * second of the hour, NaN when it changes within it (then asked of `Intl` each time).
 * Sound unless a zone changed offset twice within one hour and back, which no zone does.
 * Bounded: cleared when full (a miss costs two `Intl` calls).
 */
const MAX_OFFSET_ENTRIES = 200_000;
const offsets = new Map<string, Map<number, number>>();
let offsetEntries = 0;

/** The zone's offset from UTC at instant `ms`, in ms (Paris in summer: +7,200,000). */
export function offsetAt(ms: number, timezone: string): number {
  const bucket = Math.floor(ms / HOUR_MS);
  let zone = offsets.get(timezone);
  let offset = zone?.get(bucket);
  if (offset === undefined) {
    const first = intlOffset(bucket * HOUR_MS, timezone); // validates the zone
    const last = intlOffset(bucket * HOUR_MS + HOUR_MS - 1000, timezone);
    offset = first === last ? first : NaN;
    if (offsetEntries >= MAX_OFFSET_ENTRIES) {
      offsets.clear();
      offsetEntries = 0;
    }
    zone = offsets.get(timezone) ?? new Map<number, number>();
    offsets.set(timezone, zone);
    zone.set(bucket, offset);
    offsetEntries++;
  }
  return Number.isNaN(offset) ? intlOffset(ms, timezone) : offset;
}

/** The local date and time of `ms` in `timezone` (to the second). */
export function localTime(ms: number, timezone: string): LocalTime {
  const local = new Date(Math.floor(ms / 1000) * 1000 + offsetAt(ms, timezone));
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    hour: local.getUTCHours(),
    minute: local.getUTCMinutes(),
    second: local.getUTCSeconds(),
  };
}

/** The local hour (0–23) of `ms` in `timezone`. */
export function localHour(ms: number, timezone: string): number {
  return localTime(ms, timezone).hour;
}

/** Minutes since local midnight (0–1439) of `ms` in `timezone`. */
export function localMinuteOfDay(ms: number, timezone: string): number {
  const t = localTime(ms, timezone);
  return t.hour * 60 + t.minute;
}

/** A wall-clock time as if it were UTC: the number the local clock "reads", in ms. */
export function wallMs(t: LocalTime): number {
  return Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second);
}

/**
 * The instants at which the local clock in `timezone` reads `wall` (a wall-clock time
 * from `wallMs`, or `Date.UTC(y, m - 1, d, h, min)`), in order:
 * - an ordinary time: its one instant;
 * - a repeated time (autumn, clocks go back): both instants;
 * - a skipped time (spring, clocks go forward over it): the transition instant, the first
 *   moment the local clock reads later than `wall` (Paris, 30 March 2025, 02:00 → the
 *   instant the clocks jump to 03:00).
 * Assumes at most one offset change within a day of `wall`, true of every IANA zone.
 */
export function instantsAtWall(wall: number, timezone: string): number[] {
  const before = offsetAt(wall - DAY_MS, timezone);
  const after = offsetAt(wall + DAY_MS, timezone);
  const readsWall = (t: number): boolean => t + offsetAt(t, timezone) === wall;
  const found = [...new Set([wall - before, wall - after])].filter(readsWall).sort((a, b) => a - b);
  if (found.length > 0) return found;
  // A gap: the clock reads less than `wall` at the earlier bound and more at the later
  // one. Binary search for the transition instant (whole seconds: offsets change on them).
  let lo = Math.min(wall - before, wall - after); // reads < wall
  let hi = Math.max(wall - before, wall - after); // reads > wall
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (mid <= lo || mid >= hi) break;
    if (mid + offsetAt(mid, timezone) < wall) lo = mid;
    else hi = mid;
  }
  return [hi];
}

/** The first instant at which the local clock reads `wall` (see `instantsAtWall`). */
export function instantAtWall(wall: number, timezone: string): number {
  return instantsAtWall(wall, timezone)[0] as number;
}

/**
 * The first instant after `afterMs` at which the local clock reaches `hour:minute`, looking
 * at today and the next two local days (one suffices; the margin keeps it total).
 */
export function nextWallInstant(
  afterMs: number,
  hour: number,
  minute: number,
  timezone: string,
): number | undefined {
  const today = localTime(afterMs, timezone);
  for (let days = 0; days <= 2; days++) {
    for (const at of instantsAtWall(wallOf(today, days, hour, minute), timezone)) {
      if (at > afterMs) return at;
    }
  }
  return undefined;
}

/**
 * The instant in (`afterMs`, `untilMs`] at which the zone's offset changes, when the
 * offsets at the two ends differ (to the second: offsets change on whole seconds).
 * Callers look at spans of about a day, which hold at most one change in every zone.
 */
export function offsetChangeBetween(afterMs: number, untilMs: number, timezone: string): number | undefined {
  const first = offsetAt(afterMs, timezone);
  if (untilMs <= afterMs || offsetAt(untilMs, timezone) === first) return undefined;
  let lo = afterMs; // offset === first
  let hi = untilMs; // offset !== first
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (mid <= lo || mid >= hi) break;
    if (offsetAt(mid, timezone) === first) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** The wall-clock reading of local date (year, month, day) + `days` at `hour:minute`. */
export function wallOf(
  date: Pick<LocalTime, 'year' | 'month' | 'day'>,
  days: number,
  hour: number,
  minute = 0,
): number {
  return Date.UTC(date.year, date.month - 1, date.day + days, hour, minute, 0);
}
