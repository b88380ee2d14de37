import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DAY_MS,
  HOUR_MS,
  InvalidTimeZoneError,
  MINUTE_MS,
  inQuietHours,
  instantsAtWall,
  intlLocalTime,
  isValidTimeZone,
  localHour,
  localTime,
  nextSendTime,
  offsetAt,
  parseClock,
  quietHoursEnd,
  validateQuietHours,
  type QuietHours,
} from './index.ts';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString();

/** Ordinary zones and the awkward ones: 30/45-minute offsets, a 30-minute DST shift
 * (Lord Howe), a 2-hour one (Troll), a skipped day (Apia, 2011), southern-hemisphere DST. */
const ZONES = [
  'UTC',
  'Europe/Paris',
  'Europe/London',
  'America/New_York',
  'America/Los_Angeles',
  'America/Sao_Paulo',
  'America/St_Johns',
  'Australia/Sydney',
  'Australia/Lord_Howe',
  'Antarctica/Troll',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Asia/Tokyo',
  'Pacific/Chatham',
  'Pacific/Apia',
  'Africa/Casablanca',
];
const zoneArb = fc.constantFrom(...ZONES);
// 2000–2037, millisecond resolution.
const instantArb = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2037, 11, 31) });
const PROPS = { seed: 9, numRuns: 1500 };
/** How far the local clock moves from `a` to `b` (real time minus what DST took or gave). */
const wallElapsed = (a: number, b: number, zone: string): number =>
  b + offsetAt(b, zone) - (a + offsetAt(a, zone));

/** Every offset change of the zones in 2024–2026 (and Apia's skipped day in 2011). */
function transitions(): Array<[string, number]> {
  const found: Array<[string, number]> = [];
  const scan = (zone: string, from: number, to: number): void => {
    for (let t = from; t < to; t += 6 * HOUR_MS) {
      if (offsetAt(t, zone) === offsetAt(t + 6 * HOUR_MS, zone)) continue;
      let lo = t;
      let hi = t + 6 * HOUR_MS;
      while (hi - lo > 1000) {
        const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
        if (offsetAt(mid, zone) === offsetAt(lo, zone)) lo = mid;
        else hi = mid;
      }
      found.push([zone, hi]);
    }
  };
  for (const zone of ZONES) scan(zone, Date.UTC(2024, 0, 1), Date.UTC(2027, 0, 1));
  scan('Pacific/Apia', Date.UTC(2011, 11, 25), Date.UTC(2012, 0, 5));
  return found;
}
const TRANSITIONS = transitions();
/** A zone and an instant: anywhere, or within 30 h either side of one of its DST changes (where the bugs live). */
const zonedInstantArb = fc.oneof(
  fc.tuple(zoneArb, instantArb),
  fc
    .tuple(fc.constantFrom(...TRANSITIONS), fc.integer({ min: -30 * 3600, max: 30 * 3600 }))
    .map(([[zone, t], s]): [string, number] => [zone, t + s * 1000]),
);

describe('zoned time', () => {
  it('reads local wall clocks and offsets', () => {
    expect(localTime(at('2025-07-01T12:34:56Z'), 'Europe/Paris')).toEqual({
      year: 2025,
      month: 7,
      day: 1,
      hour: 14,
      minute: 34,
      second: 56,
    });
    expect(localHour(at('2025-01-01T00:00:00Z'), 'UTC')).toBe(0); // h23, not "24"
    expect(offsetAt(at('2025-01-15T00:00:00Z'), 'Asia/Kathmandu')).toBe(5.75 * HOUR_MS);
    expect(offsetAt(at('2025-01-15T00:00:00Z'), 'America/New_York')).toBe(-5 * HOUR_MS);
    expect(offsetAt(at('2025-07-15T00:00:00Z'), 'America/New_York')).toBe(-4 * HOUR_MS);
  });

  it('property: the cached local time is exactly what Intl says', () => {
    fc.assert(
      fc.property(zonedInstantArb, ([zone, ms]) => {
        expect(localTime(ms, zone)).toEqual(intlLocalTime(ms, zone));
      }),
      { ...PROPS, numRuns: 3000 },
    );
  });

  it('refuses unknown zones with a typed error', () => {
    expect(isValidTimeZone('Europe/Paris')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus_Mons')).toBe(false);
    expect(isValidTimeZone('')).toBe(false);
    expect(() => localTime(0, 'Nowhere/Else')).toThrow(InvalidTimeZoneError);
    expect(() => nextSendTime(0, 9, 'Nowhere/Else')).toThrow(InvalidTimeZoneError);
  });

  it('maps repeated wall times to both instants and skipped ones to the transition', () => {
    // New York, 2 Nov 2025: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
    expect(instantsAtWall(Date.UTC(2025, 10, 2, 1, 30), 'America/New_York').map(iso)).toEqual([
      '2025-11-02T05:30:00.000Z',
      '2025-11-02T06:30:00.000Z',
    ]);
    // Paris, 30 Mar 2025: 02:30 never happens; the clocks jump 02:00 → 03:00 at 01:00Z.
    expect(instantsAtWall(Date.UTC(2025, 2, 30, 2, 30), 'Europe/Paris').map(iso)).toEqual([
      '2025-03-30T01:00:00.000Z',
    ]);
  });
});

it('the DST arbitraries have transitions to work with', () => {
  expect(TRANSITIONS.length).toBeGreaterThan(60);
});

describe('nextSendTime', () => {
  it('is now when it already is that hour, else that hour later today or tomorrow', () => {
    const now = at('2025-06-10T16:20:00Z'); // 18:20 in Paris
    expect(nextSendTime(now, 18, 'Europe/Paris')).toBe(now);
    expect(iso(nextSendTime(now, 20, 'Europe/Paris'))).toBe('2025-06-10T18:00:00.000Z');
    expect(iso(nextSendTime(now, 9, 'Europe/Paris'))).toBe('2025-06-11T07:00:00.000Z');
    expect(iso(nextSendTime(now, 17, 'Europe/Paris'))).toBe('2025-06-11T15:00:00.000Z');
    expect(iso(nextSendTime(now, 0, 'Asia/Kathmandu'))).toBe('2025-06-10T18:15:00.000Z');
  });

  it('Europe/Paris spring forward (30 Mar 2025): 02:00 does not exist, the jump to 03:00 is taken', () => {
    expect(iso(nextSendTime(at('2025-03-30T00:30:00Z'), 2, 'Europe/Paris'))).toBe('2025-03-30T01:00:00.000Z');
    // 18:00 that day is CEST (UTC+2): 16:00Z, not 17:00Z.
    expect(iso(nextSendTime(at('2025-03-29T20:00:00Z'), 18, 'Europe/Paris'))).toBe(
      '2025-03-30T16:00:00.000Z',
    );
    // After the jump, the next 02:00 is tomorrow's.
    expect(iso(nextSendTime(at('2025-03-30T01:10:00Z'), 2, 'Europe/Paris'))).toBe('2025-03-31T00:00:00.000Z');
  });

  it('Europe/Paris fall back (26 Oct 2025): 02:00 happens twice, the first is taken', () => {
    expect(iso(nextSendTime(at('2025-10-25T23:30:00Z'), 2, 'Europe/Paris'))).toBe('2025-10-26T00:00:00.000Z');
    // 01:30Z is 02:30 CET, the second pass through 2 o'clock: that is still the hour.
    expect(nextSendTime(at('2025-10-26T01:30:00Z'), 2, 'Europe/Paris')).toBe(at('2025-10-26T01:30:00Z'));
    expect(iso(nextSendTime(at('2025-10-25T12:00:00Z'), 18, 'Europe/Paris'))).toBe(
      '2025-10-25T16:00:00.000Z',
    );
    expect(iso(nextSendTime(at('2025-10-25T17:00:00Z'), 18, 'Europe/Paris'))).toBe(
      '2025-10-26T17:00:00.000Z',
    );
  });

  it('America/New_York spring forward (9 Mar 2025) and fall back (2 Nov 2025)', () => {
    expect(iso(nextSendTime(at('2025-03-09T06:30:00Z'), 2, 'America/New_York'))).toBe(
      '2025-03-09T07:00:00.000Z',
    );
    expect(iso(nextSendTime(at('2025-03-09T06:30:00Z'), 9, 'America/New_York'))).toBe(
      '2025-03-09T13:00:00.000Z',
    );
    expect(iso(nextSendTime(at('2025-11-02T04:30:00Z'), 1, 'America/New_York'))).toBe(
      '2025-11-02T05:00:00.000Z',
    );
    // From 00:00 EDT on 2 Nov (04:00Z), 23:00 that day (EST) is 23 wall hours + the repeated hour = 24 h.
    expect(
      nextSendTime(at('2025-11-02T04:00:00Z'), 23, 'America/New_York') - at('2025-11-02T04:00:00Z'),
    ).toBe(24 * HOUR_MS);
  });

  it('Pacific/Chatham fall back (5 Apr 2026, 03:45 → 02:45): the hour can begin at the change', () => {
    // 13:59:59Z is 03:44:59 (+13:45); a second later the clock reads 02:45 (+12:45).
    expect(nextSendTime(at('2026-04-04T13:59:59Z'), 2, 'Pacific/Chatham')).toBe(at('2026-04-04T14:00:00Z'));
  });

  it('refuses an hour outside 0–23', () => {
    expect(() => nextSendTime(0, 24, 'UTC')).toThrow(/0–23/);
    expect(() => nextSendTime(0, 1.5, 'UTC')).toThrow(/0–23/);
  });

  it('property: never in the past, within 24 h, on the requested hour (or the jump over it), and the first such time', () => {
    // Found by this property: "within 24 h" needs care across DST. When the clocks go back
    // 2 h in between (Antarctica/Troll) the real wait can be 24 h + 1 s; when they skip a
    // day (Pacific/Apia, 2011) the local clock moves 24 h + 1 s in one real second;
    // Pacific/Chatham's 45-minute fall back re-enters an hour without passing its :00.
    fc.assert(
      fc.property(zonedInstantArb, fc.integer({ min: 0, max: 23 }), ([zone, now], hour) => {
        const t = nextSendTime(now, hour, zone);
        expect(t).toBeGreaterThanOrEqual(now);
        const shift = offsetAt(t, zone) - offsetAt(now, zone);
        // 24 h on the local clock, plus what it jumps forward (Apia skipped 30 Dec 2011) …
        expect(wallElapsed(now, t, zone)).toBeLessThanOrEqual(DAY_MS + Math.max(0, shift));
        // … and 24 h of real time, plus what the clocks go back (Troll: 2 h, else ≤ 1 h).
        expect(t - now).toBeLessThanOrEqual(DAY_MS + Math.max(0, -shift));
        if (Math.abs(offsetAt(now, zone) - offsetAt(t, zone)) <= HOUR_MS)
          expect(t - now).toBeLessThanOrEqual(DAY_MS);
        const reached = localHour(t, zone) === hour;
        // The hour was skipped (a DST gap): `t` is the instant the clocks jump forward over it.
        const jumpedOver = offsetAt(t, zone) > offsetAt(t - 1000, zone);
        expect(reached || jumpedOver).toBe(true);
        // Nothing earlier qualifies: the local hour is never `hour` between now and t.
        for (let s = now; s < t; s += 10 * MINUTE_MS) expect(localHour(s, zone)).not.toBe(hour);
      }),
      { ...PROPS, numRuns: 600 },
    );
  });
});

describe('quiet hours', () => {
  const night: QuietHours = { start: '22:00', end: '07:00' };
  const noon: QuietHours = { start: '12:00', end: '13:30' };

  it('parses HH:MM and refuses anything else', () => {
    expect(parseClock('00:00')).toBe(0);
    expect(parseClock('23:59')).toBe(1439);
    for (const bad of ['24:00', '7:00', '07:60', '', 'noon', '07:00:00'])
      expect(() => parseClock(bad)).toThrow(/HH:MM/);
    expect(() => validateQuietHours({ start: '22:00', end: 'x' })).toThrow(/HH:MM/);
  });

  it('handles windows within a day and across midnight; start == end is never quiet', () => {
    const paris = (h: number, m = 0): number => Date.UTC(2025, 5, 10, h - 2, m); // CEST
    expect(inQuietHours(paris(21, 59), night, 'Europe/Paris')).toBe(false);
    expect(inQuietHours(paris(22, 0), night, 'Europe/Paris')).toBe(true);
    expect(inQuietHours(paris(3), night, 'Europe/Paris')).toBe(true);
    expect(inQuietHours(paris(6, 59), night, 'Europe/Paris')).toBe(true);
    expect(inQuietHours(paris(7, 0), night, 'Europe/Paris')).toBe(false);
    expect(inQuietHours(paris(12, 0), noon, 'Europe/Paris')).toBe(true);
    expect(inQuietHours(paris(13, 30), noon, 'Europe/Paris')).toBe(false);
    expect(inQuietHours(paris(3), { start: '05:00', end: '05:00' }, 'Europe/Paris')).toBe(false);
    expect(iso(quietHoursEnd(paris(23, 15), night, 'Europe/Paris'))).toBe('2025-06-11T05:00:00.000Z');
    expect(iso(quietHoursEnd(paris(2), night, 'Europe/Paris'))).toBe('2025-06-10T05:00:00.000Z');
    expect(quietHoursEnd(paris(9), night, 'Europe/Paris')).toBe(paris(9));
  });

  it('Europe/Paris spring forward: a window ending inside the skipped hour ends at the jump', () => {
    const q = { start: '01:00', end: '02:30' };
    expect(iso(quietHoursEnd(at('2025-03-30T00:30:00Z'), q, 'Europe/Paris'))).toBe(
      '2025-03-30T01:00:00.000Z',
    );
    // The night window that night ends at 07:00 CEST = 05:00Z (not 06:00Z).
    expect(iso(quietHoursEnd(at('2025-03-29T22:00:00Z'), night, 'Europe/Paris'))).toBe(
      '2025-03-30T05:00:00.000Z',
    );
  });

  it('America/New_York fall back: a window ending in the repeated hour ends at the reading after now', () => {
    const q = { start: '00:30', end: '01:30' };
    expect(iso(quietHoursEnd(at('2025-11-02T04:45:00Z'), q, 'America/New_York'))).toBe(
      '2025-11-02T05:30:00.000Z',
    );
    // 06:10Z is 01:10 EST: quiet again (the clock went back into the window) until 01:30 EST.
    expect(inQuietHours(at('2025-11-02T06:10:00Z'), q, 'America/New_York')).toBe(true);
    expect(iso(quietHoursEnd(at('2025-11-02T06:10:00Z'), q, 'America/New_York'))).toBe(
      '2025-11-02T06:30:00.000Z',
    );
    // The night window across fall back: 22:00 EDT → 07:00 EST is 10 h of real time.
    expect(
      quietHoursEnd(at('2025-11-02T02:00:00Z'), night, 'America/New_York') - at('2025-11-02T02:00:00Z'),
    ).toBe(10 * HOUR_MS);
  });

  it('Europe/Paris spring forward: a window that resumes inside the gap is not over at the jump', () => {
    // 02:01–02:00 leaves only 02:00–02:00:59 free, which 31 Mar 2024 does not have.
    const q = { start: '02:01', end: '02:00' };
    expect(iso(quietHoursEnd(at('2024-03-30T23:59:59Z'), q, 'Europe/Paris'))).toBe(
      '2024-04-01T00:00:00.000Z',
    );
  });

  it('clocks going back can leave the window before its end (New York, 01:30–03:00)', () => {
    const q = { start: '01:30', end: '03:00' };
    // 01:45 EDT; at 06:00Z the clock reads 01:00 EST, outside until 01:30 EST.
    expect(iso(quietHoursEnd(at('2025-11-02T05:45:00Z'), q, 'America/New_York'))).toBe(
      '2025-11-02T06:00:00.000Z',
    );
    expect(inQuietHours(at('2025-11-02T06:30:00Z'), q, 'America/New_York')).toBe(true);
  });

  const clockArb = fc
    .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
    .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`);

  it('property: the end is never in the past, within 24 h, outside the window, and the first such instant', () => {
    // Found by this property: a window of almost a day, entered just before the clocks go
    // back, ends 24 h + 1 min of real time later (America/New_York, 22:10–22:09); one that
    // resumes inside a spring-forward gap (Paris, 02:01–02:00) is not over at the jump.
    // Hence no flat "24 h" bound across DST changes.
    fc.assert(
      fc.property(zonedInstantArb, clockArb, clockArb, ([zone, now], start, end) => {
        const q = { start, end };
        const t = quietHoursEnd(now, q, zone);
        expect(t).toBeGreaterThanOrEqual(now);
        const shift = offsetAt(t, zone) - offsetAt(now, zone);
        if (shift === 0) expect(t - now).toBeLessThanOrEqual(DAY_MS);
        // Across a change: 24 h + the change, except when a spring-forward gap swallows all
        // of that night's free time (London, 01:18–01:17): then the next night's, < 48 h.
        else expect(t - now).toBeLessThan(2 * DAY_MS);
        expect(inQuietHours(t, q, zone)).toBe(false);
        if (t === now) return;
        expect(inQuietHours(now, q, zone)).toBe(true);
        for (let s = now; s < t; s += 7 * MINUTE_MS) expect(inQuietHours(s, q, zone)).toBe(true);
      }),
      { ...PROPS, numRuns: 400 },
    );
  });
});
