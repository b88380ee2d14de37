import { describe, expect, it } from 'vitest';
import { fmtAgo, fmtInt, fmtMs, fmtNum, fmtRate } from './format.ts';
import { AlertBook, SeriesBuffer, alertsIn, parseOverview, parseTrending, tokenFromHash } from './model.ts';

describe('dashboard page model', () => {
  it('reads the token from the fragment only', () => {
    expect(tokenFromHash('#token=aaa.bbb.ccc')).toBe('aaa.bbb.ccc');
    expect(tokenFromHash('#x=1&token=t-1_x')).toBe('t-1_x');
    expect(tokenFromHash('#token=')).toBeUndefined();
    expect(tokenFromHash('')).toBeUndefined();
    expect(tokenFromHash('#tokens=abc')).toBeUndefined();
  });

  it('parses the overview shape of SPEC §7 leniently', () => {
    expect(
      parseOverview({
        ts: 1,
        events: { total: 10, perSecond: 2.5 },
        activeUsers: 3,
        connections: 4,
        topTracks: [],
        http: { p50Ms: 1.2, p99Ms: 30, errorRate: 0.01 },
        alerts: { open: 2 },
      }),
    ).toEqual({
      eventsTotal: 10,
      eventsPerSecond: 2.5,
      activeUsers: 3,
      connections: 4,
      p50Ms: 1.2,
      p99Ms: 30,
      errorRate: 0.01,
      openAlerts: 2,
    });
    const empty = parseOverview({ events: 'x', http: null, activeUsers: Number.NaN });
    expect(Object.values(empty).every((v) => v === undefined)).toBe(true);
    expect(parseOverview(null).connections).toBeUndefined();
  });

  it('parses trending as lists or as GET /v1/analytics/trending answers, dropping items without an id', () => {
    const item = { id: 't1', score: 2.5, plays: 3, uniqueListeners: 2 };
    expect(
      parseTrending({
        tracks: [item, { score: 1 }],
        artists: { entity: 'artist', items: [{ id: 'a1', plays: 1 }] },
      }),
    ).toEqual({
      tracks: [item],
      artists: [{ id: 'a1', score: undefined, plays: 1, uniqueListeners: undefined }],
    });
    expect(parseTrending({})).toEqual({ tracks: [], artists: [] });
  });

  it('keeps the open alerts from alert changes, newest change winning by offset', () => {
    const open = {
      id: 'a1',
      name: 'lag',
      kind: 'threshold',
      metric: 'event_lag',
      state: 'open',
      value: 500,
      openedAt: '2026-01-01T00:00:00Z',
    };
    const book = new AlertBook();
    book.apply(alertsIn(open), 5);
    book.apply(
      alertsIn({
        alert: {
          id: 'a2',
          name: 'dlq',
          kind: 'anomaly',
          metric: 'dlq_size',
          state: 'open',
          openedAt: Date.UTC(2026, 0, 2),
        },
      }),
      6,
    );
    expect(book.open().map((a) => a.key)).toEqual(['a2', 'a1']); // newest first
    book.apply(alertsIn({ ...open, state: 'resolved' }), 7);
    book.apply(alertsIn(open), 4); // an older change read from history later does not reopen it
    expect(book.open().map((a) => a.key)).toEqual(['a2']);
    expect(alertsIn({ items: [open, { nothing: true }] })).toHaveLength(1);
    expect(alertsIn({ ts: 1 })).toEqual([]);
  });

  it('buffers series in time order, bounded, with gaps as null and the error rate in percent', () => {
    const buf = new SeriesBuffer(3);
    buf.add(2000, { connections: 2, http_error_rate: 0.5 });
    buf.add(1000, { connections: 1 }); // from history, older: goes first
    buf.add(3000, { connections: 3, http_error_rate: 0 });
    buf.add(3000, { connections: 4 }); // same time: replaces
    expect(buf.xs()).toEqual([1, 2, 3]);
    expect(buf.ys('connections')).toEqual([1, 2, 4]);
    expect(buf.ys('http_error_rate')).toEqual([null, 50, null]);
    buf.add(4000, { connections: 5 });
    expect(buf.xs()).toEqual([2, 3, 4]);
    expect(buf.ys('connections')).toEqual([2, 4, 5]);
    expect(buf.last('connections')).toBe(5);
  });

  it('formats numbers for people', () => {
    expect([
      fmtInt(1234567),
      fmtInt(undefined),
      fmtNum(5),
      fmtNum(4.567),
      fmtNum(45.67),
      fmtNum(0.01234),
      fmtNum(12345.6),
    ]).toEqual(['1,234,567', '–', '5', '4.57', '45.7', '0.012', '12,346']);
    expect([fmtMs(0.5), fmtRate(0.0123), fmtRate(0)]).toEqual(['0.50 ms', '1.23 %', '0 %']);
    expect([fmtAgo(0, 30_000), fmtAgo(0, 150_000), fmtAgo(0, 7_200_000)]).toEqual([
      '30 s ago',
      '2 min ago',
      '2 h ago',
    ]);
  });
});
