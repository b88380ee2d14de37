import { describe, expect, it } from 'vitest';
import { avg, count, distinct, max, min, sum, topK, tumbling, WindowedAggregator } from './index.ts';
import { brief, counting, feed, harness, type Ev } from './test-helpers.ts';

const ev = (k: string, t: number, extra: Partial<Ev> = {}): Ev => ({ k, t, ...extra });

describe('tumbling windows: boundaries', () => {
  it('puts end − 1 in the window and end in the next one; fires exactly when the watermark reaches end', () => {
    const h = counting(tumbling(1000));
    feed(h.agg, [ev('a', 0), ev('a', 999)]);
    expect(h.take()).toEqual([]);
    expect(h.agg.watermark).toBe(999);
    h.agg.add(ev('a', 1000), 1000); // watermark 1000 ≥ end of [0, 1000)
    expect(brief(h.take())).toEqual(['a [0,1000) n=2 r0 final on-time']);
    h.agg.advanceWatermark(1999);
    expect(h.take()).toEqual([]);
    h.agg.advanceWatermark(2000);
    expect(brief(h.take())).toEqual(['a [1000,2000) n=1 r0 final on-time']);
  });

  it('aligns windows to the epoch, or to an offset; negative times floor correctly', () => {
    const h = counting(tumbling(1000, { offsetMs: 250 }));
    feed(h.agg, [ev('a', 249), ev('a', 250), ev('a', 1249)]);
    h.agg.flush();
    expect(brief(h.results)).toEqual([
      'a [-750,250) n=1 r0 final on-time',
      'a [250,1250) n=2 r0 final flush',
    ]);
    const neg = counting(tumbling(1000));
    feed(neg.agg, [ev('a', -1001), ev('a', -1000), ev('a', -1)]);
    neg.agg.flush();
    expect(brief(neg.results)).toEqual([
      'a [-2000,-1000) n=1 r0 final on-time',
      'a [-1000,0) n=2 r0 final flush',
    ]);
  });

  it('keeps keys apart and emits one result per window × key', () => {
    const h = counting(tumbling(100));
    feed(h.agg, [ev('a', 1), ev('b', 2), ev('a', 3), ev('c', 150), ev('b', 199)]);
    h.agg.flush();
    expect(brief(h.results).sort()).toEqual([
      'a [0,100) n=2 r0 final on-time',
      'b [0,100) n=1 r0 final on-time',
      'b [100,200) n=1 r0 final flush',
      'c [100,200) n=1 r0 final flush',
    ]);
  });

  it('skips empty windows on a watermark jump', () => {
    const h = counting(tumbling(10));
    feed(h.agg, [ev('a', 5), ev('a', 1_000_005)]);
    expect(brief(h.take())).toEqual(['a [0,10) n=1 r0 final on-time']);
    h.agg.flush();
    expect(brief(h.take())).toEqual(['a [1000000,1000010) n=1 r0 final flush']);
  });
});

describe('watermark', () => {
  it('is max event time − outOfOrderness, and never moves back', () => {
    const h = counting(tumbling(1000), { outOfOrdernessMs: 300 });
    expect(h.agg.watermark).toBe(-Infinity);
    h.agg.add(ev('a', 5000), 5000);
    expect(h.agg.watermark).toBe(4700);
    h.agg.add(ev('a', 4800), 4800); // older event: no effect
    expect(h.agg.watermark).toBe(4700);
    expect(h.agg.advanceWatermark(4000)).toBe(4700); // explicit but older: no effect
    expect(h.agg.advanceWatermark(6000)).toBe(6000);
    h.agg.add(ev('a', 6200), 6200); // 6200 − 300 < 6000: stays
    expect(h.agg.watermark).toBe(6000);
    expect(() => h.agg.advanceWatermark(Number.NaN)).toThrow(RangeError);
  });

  it('accepts out-of-order events within the bound without any late handling', () => {
    const h = counting(tumbling(1000), { outOfOrdernessMs: 500 });
    // 1400 moves W to 900; 950 and 999 still belong to [0,1000), which has not fired.
    feed(h.agg, [ev('a', 100), ev('a', 1400), ev('a', 950), ev('a', 999)]);
    expect(h.take()).toEqual([]);
    h.agg.add(ev('a', 1500), 1500); // W = 1000: fires
    expect(brief(h.take())).toEqual(['a [0,1000) n=3 r0 final on-time']);
    expect(h.agg.stats.lateAccepted).toBe(0);
    expect(h.late).toEqual([]);
  });

  it('an explicit watermark fires windows of an idle source', () => {
    const h = counting(tumbling(60_000));
    h.agg.add(ev('a', 10), 10);
    expect(h.take()).toEqual([]);
    h.agg.advanceWatermark(60_000);
    expect(brief(h.take())).toEqual(['a [0,60000) n=1 r0 final on-time']);
  });
});

describe('late events and grace', () => {
  it('within grace: folds in and re-emits with revision + 1 and late: true; the close emits the final one', () => {
    const h = harness({
      window: tumbling(1000),
      key: (e: Ev) => e.k,
      aggregations: { n: count<Ev>(), total: sum((e: Ev) => e.v), users: distinct((e: Ev) => e.u) },
      graceMs: 500,
    });
    feed(h.agg, [
      ev('a', 100, { v: 1, u: 'x' }),
      ev('a', 200, { v: 2, u: 'y' }),
      ev('a', 1000, { v: 5, u: 'x' }),
    ]);
    const [onTime] = h.take();
    expect(onTime).toMatchObject({
      key: 'a',
      window: { start: 0, end: 1000 },
      values: { n: 2, total: 3, users: 2 },
      revision: 0,
      final: false,
      late: false,
      trigger: 'on-time',
    });
    h.agg.add(ev('a', 999, { v: 10, u: 'z' }), 999); // W = 1000 < 1000 + 500
    const [late] = h.take();
    expect(late).toMatchObject({
      window: { start: 0, end: 1000 },
      values: { n: 3, total: 13, users: 3 },
      revision: 1,
      final: false,
      late: true,
      trigger: 'late',
    });
    h.agg.add(ev('a', 0, { v: 100, u: 'z' }), 0);
    expect(h.take()).toMatchObject([{ values: { n: 4, total: 113, users: 3 }, revision: 2, late: true }]);
    h.agg.advanceWatermark(1499);
    expect(h.take()).toEqual([]);
    h.agg.advanceWatermark(1500); // end + grace: close
    expect(h.take()).toMatchObject([
      {
        window: { start: 0, end: 1000 },
        values: { n: 4, total: 113 },
        revision: 3,
        final: true,
        late: false,
        trigger: 'close',
      },
    ]);
    expect(h.agg.stats.lateAccepted).toBe(2);
  });

  it('beyond grace: the event goes to onLate and the counters, and no result changes', () => {
    const h = counting(tumbling(1000), { graceMs: 200 });
    feed(h.agg, [ev('a', 10), ev('a', 1100)]);
    expect(brief(h.take())).toEqual(['a [0,1000) n=1 r0 on-time']);
    h.agg.advanceWatermark(1200); // [0,1000) closes
    expect(brief(h.take())).toEqual(['a [0,1000) n=1 r1 final close']);
    const before = JSON.stringify(h.results);
    h.agg.add(ev('a', 999), 999);
    h.agg.add(ev('b', 5), 5);
    expect(h.late).toEqual([
      { event: ev('a', 999), reason: 'window-closed', t: 999 },
      { event: ev('b', 5), reason: 'window-closed', t: 5 },
    ]);
    expect(h.agg.stats).toMatchObject({ dropped: 2, droppedClosed: 2, accepted: 2 });
    h.agg.flush();
    expect(JSON.stringify(h.results.slice(0, 2))).toBe(before);
    expect(brief(h.take())).toEqual(['a [1000,2000) n=1 r0 final flush']);
    expect(h.agg.stats.results).toBe(3);
  });

  it('a late event for a window × key never seen before opens it with revision 0, late', () => {
    const h = counting(tumbling(1000), { graceMs: 1000 });
    feed(h.agg, [ev('a', 10), ev('a', 1100)]);
    h.take();
    h.agg.add(ev('b', 500), 500);
    expect(brief(h.take())).toEqual(['b [0,1000) n=1 r0 late']);
    h.agg.advanceWatermark(2000);
    expect(brief(h.take())).toEqual([
      'a [0,1000) n=1 r1 final close',
      'b [0,1000) n=1 r1 final close',
      'a [1000,2000) n=1 r0 on-time',
    ]);
  });

  it('grace 0: the on-time result is final and the very next late event is dropped', () => {
    const h = counting(tumbling(1000));
    feed(h.agg, [ev('a', 10), ev('a', 1000), ev('a', 999)]);
    expect(brief(h.take())).toEqual(['a [0,1000) n=1 r0 final on-time']);
    expect(h.late.map((l) => l.reason)).toEqual(['window-closed']);
  });

  it("emit: 'final' suppresses everything but one final result per window × key (late updates included)", () => {
    const h = counting(tumbling(1000), { graceMs: 500, emit: 'final' });
    feed(h.agg, [ev('a', 10), ev('a', 1000), ev('a', 999), ev('a', 20)]);
    expect(h.take()).toEqual([]);
    h.agg.advanceWatermark(1500);
    expect(brief(h.take())).toEqual(['a [0,1000) n=3 r0 final close']);
    expect(h.agg.stats.lateAccepted).toBe(2);
  });

  it('a watermark step that both fires and closes a window emits a single final result', () => {
    const h = counting(tumbling(1000), { graceMs: 500 });
    h.agg.add(ev('a', 10), 10);
    h.agg.advanceWatermark(5000);
    expect(brief(h.take())).toEqual(['a [0,1000) n=1 r0 final on-time']);
  });
});

describe('flush', () => {
  it('emits the final result of every open window (fired or not), then refuses events', () => {
    const h = counting(tumbling(1000), { graceMs: 5000 });
    feed(h.agg, [ev('a', 10), ev('b', 1010), ev('a', 2500)]);
    expect(brief(h.take())).toEqual(['a [0,1000) n=1 r0 on-time', 'b [1000,2000) n=1 r0 on-time']);
    h.agg.flush();
    expect(brief(h.take())).toEqual([
      'a [0,1000) n=1 r1 final flush',
      'b [1000,2000) n=1 r1 final flush',
      'a [2000,3000) n=1 r0 final flush',
    ]);
    expect(h.agg.watermark).toBe(Infinity);
    expect(h.agg.stats.openCells).toBe(0);
    h.agg.add(ev('a', 1e15), 1e15);
    expect(h.late.map((l) => l.reason)).toEqual(['window-closed']);
    h.agg.flush();
    expect(h.take()).toEqual([]);
  });
});

describe('aggregations', () => {
  it('count, sum, avg, min, max, distinct, topK side by side; missing values are skipped', () => {
    interface Play {
      track: string;
      user?: string;
      ms?: number;
    }
    const results: unknown[] = [];
    const agg = new WindowedAggregator({
      window: tumbling(1000),
      key: (e: Play) => e.track,
      aggregations: {
        plays: count<Play>(),
        totalMs: sum((e: Play) => e.ms),
        avgMs: avg((e: Play) => e.ms),
        minMs: min((e: Play) => e.ms),
        maxMs: max((e: Play) => e.ms),
        listeners: distinct((e: Play) => e.user),
        top: topK((e: Play) => e.user, 2),
      },
      onResult: (r) => {
        // Typed from the aggregations:
        const plays: number = r.values.plays;
        const avgMs: number | null = r.values.avgMs;
        const first: string | undefined = r.values.top[0]?.item;
        results.push({ key: r.key, plays, avgMs, first, values: r.values });
      },
    });
    agg.add({ track: 't1', user: 'u1', ms: 100 }, 1);
    agg.add({ track: 't1', user: 'u2', ms: -50 }, 2);
    agg.add({ track: 't1', user: 'u1', ms: Number.NaN }, 3);
    agg.add({ track: 't1', user: 'u1' }, 4);
    agg.add({ track: 't2' }, 5);
    agg.flush();
    expect(results).toEqual([
      {
        key: 't1',
        plays: 4,
        avgMs: 25,
        first: 'u1',
        values: {
          plays: 4,
          totalMs: 50,
          avgMs: 25,
          minMs: -50,
          maxMs: 100,
          listeners: 2,
          top: [
            { item: 'u1', count: 3, error: 0 },
            { item: 'u2', count: 1, error: 0 },
          ],
        },
      },
      {
        key: 't2',
        plays: 1,
        avgMs: null,
        first: undefined,
        values: { plays: 1, totalMs: 0, avgMs: null, minMs: null, maxMs: null, listeners: 0, top: [] },
      },
    ]);
  });

  it('validates definitions', () => {
    expect(() => topK((e: Ev) => e.k, 0)).toThrow(RangeError);
    expect(() => topK((e: Ev) => e.k, 10, { capacity: 5 })).toThrow(RangeError);
    expect(() => distinct((e: Ev) => e.k, { precision: 20 })).toThrow(RangeError);
    expect(
      () =>
        new WindowedAggregator({
          window: tumbling(10),
          key: (e: Ev) => e.k,
          aggregations: {},
          onResult: () => {},
        }),
    ).toThrow(RangeError);
    expect(() => tumbling(0)).toThrow(RangeError);
    expect(() => tumbling(1.5)).toThrow(RangeError);
    expect(() => counting(tumbling(10), { graceMs: -1 })).toThrow(RangeError);
    expect(() => counting(tumbling(10), { outOfOrdernessMs: Number.POSITIVE_INFINITY })).toThrow(RangeError);
    expect(() => counting(tumbling(10), { maxOpenCells: 0 })).toThrow(RangeError);
  });

  it('refuses non-finite event times', () => {
    const h = counting(tumbling(10));
    expect(() => h.agg.add(ev('a', 0), Number.NaN)).toThrow(RangeError);
    expect(() => h.agg.add(ev('a', 0), Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => h.agg.add(ev('a', 0), Number.NEGATIVE_INFINITY)).toThrow(RangeError);
    expect(h.agg.stats.accepted).toBe(0);
  });
});

describe('bounds: maxOpenCells', () => {
  it('evict-oldest fires the oldest window early (final, trigger evicted) and refuses its event time afterwards', () => {
    const h = counting(tumbling(100), { maxOpenCells: 3, outOfOrdernessMs: 10_000 });
    feed(h.agg, [ev('a', 1), ev('b', 2), ev('a', 101)]);
    expect(h.agg.stats.openCells).toBe(3);
    h.agg.add(ev('c', 201), 201); // a 4th cell: window [0,100) (2 cells) goes
    expect(brief(h.take())).toEqual(['a [0,100) n=1 r0 final evicted', 'b [0,100) n=1 r0 final evicted']);
    expect(h.agg.stats).toMatchObject({ evictions: 1, openCells: 2 });
    h.agg.add(ev('a', 50), 50); // its window was evicted: refused, result unchanged
    expect(h.late).toEqual([{ event: ev('a', 50), reason: 'evicted', t: 50 }]);
    h.agg.add(ev('a', 150), 150); // [100,200) is still open
    h.agg.flush();
    expect(brief(h.take())).toEqual(['a [100,200) n=2 r0 final flush', 'c [200,300) n=1 r0 final flush']);
    expect(h.agg.stats).toMatchObject({ accepted: 5, dropped: 1, droppedEvicted: 1 });
  });

  it('evict-oldest refuses (overflow) when the oldest window is the one the event needs', () => {
    const h = counting(tumbling(100), { maxOpenCells: 2 });
    feed(h.agg, [ev('a', 1), ev('b', 2), ev('c', 3), ev('a', 4)]);
    expect(h.late.map((l) => `${l.event.k} ${l.reason}`)).toEqual(['c overflow']);
    h.agg.flush();
    expect(brief(h.results)).toEqual(['a [0,100) n=2 r0 final flush', 'b [0,100) n=1 r0 final flush']);
  });

  it('drop-new refuses any event that needs a new cell', () => {
    const h = counting(tumbling(100), { maxOpenCells: 2, overflow: 'drop-new', outOfOrdernessMs: 1000 });
    feed(h.agg, [ev('a', 1), ev('a', 101), ev('b', 2), ev('a', 3), ev('a', 102)]);
    expect(h.late.map((l) => `${l.event.k}@${l.t} ${l.reason}`)).toEqual(['b@2 overflow']);
    expect(h.agg.stats.droppedOverflow).toBe(1);
    h.agg.flush();
    expect(brief(h.results)).toEqual(['a [0,100) n=2 r0 final flush', 'a [100,200) n=2 r0 final flush']);
  });

  it('frees cells as windows close, so a steady stream never overflows', () => {
    const h = counting(tumbling(100), { maxOpenCells: 20, graceMs: 100 });
    for (let t = 0; t < 100_000; t += 7) h.agg.add(ev(`k${t % 5}`, t), t);
    expect(h.agg.stats.evictions).toBe(0);
    expect(h.agg.stats.openCells).toBeLessThanOrEqual(15);
  });
});

describe('snapshot / restore', () => {
  it('restores mid-stream state from JSON and continues identically', () => {
    const make = () =>
      harness({
        window: tumbling(1000),
        key: (e: Ev) => e.k,
        aggregations: {
          n: count<Ev>(),
          users: distinct((e: Ev) => e.u),
          top: topK((e: Ev) => e.u, 3),
          lo: min((e: Ev) => e.v),
        },
        graceMs: 1500,
        outOfOrdernessMs: 100,
      });
    const events: Ev[] = [];
    for (let i = 0; i < 3000; i++)
      events.push(ev(`k${i % 3}`, i * 2 - (i % 7) * 20, { u: `u${(i * 13) % 97}`, v: (i * 31) % 1000 }));
    const a = make();
    const b = make();
    feed(a.agg, events.slice(0, 1700));
    const snap = JSON.parse(JSON.stringify(a.agg.snapshot())) as ReturnType<typeof a.agg.snapshot>;
    b.agg.restore(snap);
    expect(b.agg.watermark).toBe(a.agg.watermark);
    expect(b.agg.stats).toEqual(a.agg.stats);
    a.take();
    feed(a.agg, events.slice(1700));
    feed(b.agg, events.slice(1700));
    a.agg.flush();
    b.agg.flush();
    expect(b.take()).toEqual(a.take());
    expect(b.late).toEqual(a.late.slice(a.late.length - b.late.length));
  });

  it('refuses a snapshot of another configuration', () => {
    const a = counting(tumbling(1000));
    a.agg.add(ev('a', 1), 1);
    const snap = a.agg.snapshot();
    expect(() => counting(tumbling(2000)).agg.restore(snap)).toThrow(RangeError);
    const other = harness({ window: tumbling(1000), key: (e: Ev) => e.k, aggregations: { m: count<Ev>() } });
    expect(() => other.agg.restore(snap)).toThrow(RangeError);
  });
});
