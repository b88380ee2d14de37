import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidTimeZoneError } from '../schedule/index.ts';
import { InvalidSendTimeSnapshotError, SendTimeModel, type SendTimeSignal } from './index.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 6); // a Monday, 00:00Z

/** `days` daily events at local `hour:minute` in `tz` (tz-correct by construction: UTC offset given). */
function daily(
  model: SendTimeModel,
  user: string,
  fromDay: number,
  days: number,
  utcHour: number,
  tz: string,
  kind: SendTimeSignal = 'app.opened',
): void {
  for (let d = fromDay; d < fromDay + days; d++)
    model.observe(user, T0 + d * DAY + utcHour * 3_600_000 + 17 * 60_000, kind, tz);
}

describe('SendTimeModel', () => {
  it('learns the local hour in the user’s own zone', () => {
    const m = new SendTimeModel();
    daily(m, 'tokyo', 0, 10, 12, 'Asia/Tokyo'); // 12:17Z = 21:17 in Tokyo
    daily(m, 'nyc', 0, 10, 12, 'America/New_York'); // 12:17Z = 07:17 EST
    expect(m.bestHour('tokyo')).toMatchObject({ localHour: 21, basis: 'learned' });
    expect(m.bestHour('nyc')).toMatchObject({ localHour: 7, basis: 'learned' });
  });

  it('gives the default hour (or the caller’s) below the evidence threshold', () => {
    const m = new SendTimeModel({ minEvidence: 4 });
    expect(m.bestHour('nobody')).toEqual({ localHour: 18, basis: 'default', evidence: 0 });
    daily(m, 'u', 0, 3, 9, 'UTC');
    expect(m.bestHour('u')).toMatchObject({ localHour: 18, basis: 'default' });
    expect(m.bestHour('u', { defaultHour: 10 })).toMatchObject({ localHour: 10, basis: 'default' });
    daily(m, 'u', 3, 2, 9, 'UTC');
    expect(m.bestHour('u')).toMatchObject({ localHour: 9, basis: 'learned' });
    expect(() => m.bestHour('u', { defaultHour: 24 })).toThrow(RangeError);
  });

  it('evidence decays: a user silent for months is back to the default', () => {
    const m = new SendTimeModel({ halfLifeMs: 14 * DAY, minEvidence: 4 });
    daily(m, 'u', 0, 20, 9, 'UTC');
    const last = T0 + 19 * DAY + (9 * 60 + 17) * 60_000;
    expect(m.bestHour('u', { nowMs: last }).basis).toBe('learned');
    expect(m.bestHour('u', { nowMs: last + 14 * DAY }).evidence).toBeCloseTo(
      m.bestHour('u', { nowMs: last }).evidence / 2,
      9,
    );
    expect(m.bestHour('u', { nowMs: last + 120 * DAY }).basis).toBe('default');
  });

  it('follows a habit that changed, with decay; without decay it does not', () => {
    const decaying = new SendTimeModel({ halfLifeMs: 7 * DAY });
    const forever = new SendTimeModel({ halfLifeMs: Infinity });
    for (const m of [decaying, forever]) {
      daily(m, 'u', 0, 40, 8, 'UTC'); // 40 days at 08:xx …
      daily(m, 'u', 40, 20, 20, 'UTC'); // … then 20 days at 20:xx
    }
    expect(decaying.bestHour('u').localHour).toBe(20);
    expect(forever.bestHour('u').localHour).toBe(8);
  });

  it('smooths across neighbouring hours, circularly', () => {
    const smooth = new SendTimeModel({ kernel: [1, 2, 1], halfLifeMs: Infinity });
    const raw = new SendTimeModel({ kernel: [1], halfLifeMs: Infinity });
    for (const m of [smooth, raw]) {
      daily(m, 'u', 0, 5, 7, 'UTC'); // an isolated spike of 5 at 07
      daily(m, 'u', 0, 3, 19, 'UTC'); // a busy evening: 3, 4, 3
      daily(m, 'u', 0, 4, 20, 'UTC');
      daily(m, 'u', 0, 3, 21, 'UTC');
      daily(m, 'w', 0, 3, 23, 'UTC'); // across midnight: 23 (3), 00 (4), 01 (3) vs 12 (5)
      daily(m, 'w', 0, 4, 0, 'UTC');
      daily(m, 'w', 0, 3, 1, 'UTC');
      daily(m, 'w', 0, 5, 12, 'UTC');
    }
    expect(smooth.bestHour('u').localHour).toBe(20);
    expect(raw.bestHour('u').localHour).toBe(7);
    expect(smooth.bestHour('w').localHour).toBe(0);
    expect(raw.bestHour('w').localHour).toBe(12);
    expect(Array.from(smooth.smoothed([1, ...new Array<number>(22).fill(0), 1]))).toEqual([
      3,
      1,
      ...new Array<number>(20).fill(0),
      1,
      3,
    ]);
  });

  it('breaks ties toward the default hour', () => {
    const m = new SendTimeModel({ kernel: [1], halfLifeMs: Infinity });
    daily(m, 'u', 0, 3, 6, 'UTC');
    daily(m, 'u', 0, 3, 16, 'UTC');
    expect(m.bestHour('u').localHour).toBe(16); // 2 h from 18, vs 12 h
    expect(m.bestHour('u', { defaultHour: 5 }).localHour).toBe(6);
  });

  it('bins by the local clock across DST (Paris, 30 Mar 2025): 18:30 local stays hour 18', () => {
    const m = new SendTimeModel({ kernel: [1] });
    for (let d = 25; d <= 31; d++) {
      const utcHour = d < 30 ? 17 : 16; // CET, then CEST
      m.observe('u', Date.UTC(2025, 2, d, utcHour, 30), 'app.opened', 'Europe/Paris');
    }
    const h = m.histogram('u')!;
    expect(h.findIndex((w) => w > 0)).toBe(18);
    expect(h.filter((w) => w > 0)).toHaveLength(1);
  });

  it('property: the order events arrive in does not matter (late events are decayed for their age)', () => {
    const eventArb = fc.record({
      ts: fc.integer({ min: T0, max: T0 + 60 * DAY }),
      kind: fc.constantFrom<SendTimeSignal>('app.opened', 'notification.opened'),
    });
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 40 }), fc.integer(), (events, salt) => {
        const sorted = [...events].sort((a, b) => a.ts - b.ts);
        const shuffled = [...events].sort((a, b) => ((a.ts ^ salt) % 7) - ((b.ts ^ salt) % 7));
        const a = new SendTimeModel();
        const b = new SendTimeModel();
        for (const e of sorted) a.observe('u', e.ts, e.kind, 'Europe/Paris');
        for (const e of shuffled) b.observe('u', e.ts, e.kind, 'Europe/Paris');
        const now = T0 + 61 * DAY;
        const ha = a.histogram('u', now)!;
        const hb = b.histogram('u', now)!;
        ha.forEach((w, i) => expect(hb[i]).toBeCloseTo(w, 9));
        const [ba, bb] = [a.bestHour('u', { nowMs: now }), b.bestHour('u', { nowMs: now })];
        expect([bb.localHour, bb.basis]).toEqual([ba.localHour, ba.basis]);
        expect(bb.evidence).toBeCloseTo(ba.evidence, 9);
      }),
      { seed: 3, numRuns: 300 },
    );
  });

  it('ignores unknown kinds and non-finite times; refuses unknown zones', () => {
    const m = new SendTimeModel();
    m.observe('u', Number.NaN, 'app.opened', 'UTC');
    m.observe('u', T0, 'track.played' as SendTimeSignal, 'UTC');
    expect(m.size).toBe(0);
    expect(() => m.observe('u', T0, 'app.opened', 'Not/AZone')).toThrow(InvalidTimeZoneError);
  });

  it('bounds memory: 24 numbers per user, least recently observed users forgotten beyond maxUsers', () => {
    const m = new SendTimeModel({ maxUsers: 3 });
    for (const u of ['a', 'b', 'c']) m.observe(u, T0, 'app.opened', 'UTC');
    m.observe('a', T0 + 1, 'app.opened', 'UTC'); // a is recent again
    m.observe('d', T0 + 2, 'app.opened', 'UTC'); // evicts b
    expect(m.size).toBe(3);
    expect(m.histogram('b')).toBeUndefined();
    expect(m.snapshot().users.map(([id, , hours]) => [id, hours.length])).toEqual([
      ['c', 24],
      ['a', 24],
      ['d', 24],
    ]);
    expect(m.forget('a')).toBe(true);
    expect(m.bestHour('a').basis).toBe('default');
  });

  it('snapshot → JSON → restore continues exactly like the uninterrupted model', () => {
    const whole = new SendTimeModel();
    const first = new SendTimeModel();
    daily(whole, 'u', 0, 10, 9, 'Europe/Paris');
    daily(first, 'u', 0, 10, 9, 'Europe/Paris');
    const resumed = new SendTimeModel();
    resumed.restore(JSON.parse(JSON.stringify(first.snapshot())));
    for (const m of [whole, resumed]) {
      daily(m, 'u', 10, 15, 19, 'Europe/Paris');
      m.observe('u', T0 + 3 * DAY, 'notification.opened', 'Europe/Paris'); // late
    }
    expect(resumed.snapshot()).toEqual(whole.snapshot());
    expect(resumed.bestHour('u')).toEqual(whole.bestHour('u'));
  });

  it.each([
    [null],
    [{ version: 2, users: [] }],
    [{ version: 1, users: {} }],
    [{ version: 1, users: [['u', 0, [1, 2]]] }],
    [{ version: 1, users: [['u', 'x', new Array(24).fill(0)]] }],
    [{ version: 1, users: [['u', 0, [...new Array(23).fill(0), -1]]] }],
    [
      {
        version: 1,
        users: [
          ['u', 0, new Array(24).fill(0)],
          ['u', 1, new Array(24).fill(0)],
        ],
      },
    ],
  ])('refuses a bad snapshot %j and keeps its state', (bad) => {
    const m = new SendTimeModel();
    daily(m, 'keep', 0, 5, 9, 'UTC');
    const before = m.snapshot();
    expect(() => m.restore(bad)).toThrow(InvalidSendTimeSnapshotError);
    expect(m.snapshot()).toEqual(before);
  });

  it('validates its options', () => {
    expect(() => new SendTimeModel({ halfLifeMs: 0 })).toThrow(RangeError);
    expect(() => new SendTimeModel({ kernel: [1, 1] })).toThrow(RangeError);
    expect(() => new SendTimeModel({ kernel: [0] })).toThrow(RangeError);
    expect(() => new SendTimeModel({ defaultHour: 25 })).toThrow(RangeError);
    expect(new SendTimeModel({ weights: { 'notification.opened': 2 } }).options.weights).toEqual({
      'app.opened': 1,
      'notification.opened': 2,
    });
  });
});
