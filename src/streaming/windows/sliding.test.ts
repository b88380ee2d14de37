import { describe, expect, it } from 'vitest';
import { assignWindows, count, distinct, mulberry32, sliding, sum, topK } from './index.ts';
import { brief, counting, feed, harness, type Ev } from './test-helpers.ts';

const ev = (k: string, t: number, extra: Partial<Ev> = {}): Ev => ({ k, t, ...extra });

describe('sliding (hopping) windows', () => {
  it('assigns an event to size/slide windows, [start, end) half-open', () => {
    const w = sliding(3000, 1000);
    expect(assignWindows(w, 2999)).toEqual([
      { start: 0, end: 3000 },
      { start: 1000, end: 4000 },
      { start: 2000, end: 5000 },
    ]);
    expect(assignWindows(w, 3000)).toEqual([
      { start: 1000, end: 4000 },
      { start: 2000, end: 5000 },
      { start: 3000, end: 6000 },
    ]);
    expect(assignWindows(sliding(90, 60), 45)).toEqual([{ start: 0, end: 90 }]);
    expect(assignWindows(sliding(90, 60), 75)).toEqual([
      { start: 0, end: 90 },
      { start: 60, end: 150 },
    ]);
    expect(() => sliding(1000, 2000)).toThrow(RangeError);
  });

  it('counts each event in every window it belongs to, firing each window at its end', () => {
    const h = counting(sliding(3000, 1000));
    feed(h.agg, [ev('a', 0), ev('a', 999), ev('a', 1000), ev('a', 2999)]);
    // The event at 2999 moved W to 2999, past the end of [-1000,2000) too.
    expect(brief(h.take())).toEqual([
      'a [-2000,1000) n=2 r0 final on-time',
      'a [-1000,2000) n=3 r0 final on-time',
    ]);
    h.agg.advanceWatermark(2999);
    expect(h.take()).toEqual([]);
    h.agg.advanceWatermark(3000);
    expect(brief(h.take())).toEqual(['a [0,3000) n=4 r0 final on-time']);
    h.agg.flush();
    expect(brief(h.take())).toEqual(['a [1000,4000) n=2 r0 final flush', 'a [2000,5000) n=1 r0 final flush']);
  });

  it('works when slide does not divide size (panes of gcd(size, slide))', () => {
    const h = counting(sliding(90, 60));
    feed(h.agg, [ev('a', 0), ev('a', 45), ev('a', 75), ev('a', 130)]);
    h.agg.flush();
    expect(brief(h.results)).toEqual([
      'a [-60,30) n=1 r0 final on-time',
      'a [0,90) n=3 r0 final on-time',
      'a [60,150) n=2 r0 final flush',
      'a [120,210) n=1 r0 final flush',
    ]);
  });

  it('matches a brute-force per-window computation on random out-of-order data', () => {
    const random = mulberry32(5);
    const events: Ev[] = [];
    for (let i = 0; i < 4000; i++)
      events.push(
        ev(`k${Math.floor(random() * 4)}`, Math.floor(i * 5 + random() * 400), {
          v: Math.floor(random() * 100),
          u: `u${Math.floor(random() * 30)}`,
        }),
      );
    // Arrival order: within the 400 ms out-of-orderness bound.
    events.sort((a, b) => a.t + 400 * (a.v! % 2) - (b.t + 400 * (b.v! % 2)));
    const h = harness({
      window: sliding(1000, 250),
      key: (e: Ev) => e.k,
      aggregations: {
        n: count<Ev>(),
        total: sum((e: Ev) => e.v),
        users: distinct((e: Ev) => e.u),
        top: topK((e: Ev) => e.u, 3, { capacity: 64 }),
      },
      outOfOrdernessMs: 400,
    });
    feed(h.agg, events);
    h.agg.flush();
    expect(h.late).toEqual([]);
    const expected = new Map<
      string,
      { n: number; total: number; users: Set<string>; top: Map<string, number> }
    >();
    for (const e of events) {
      for (const w of assignWindows(sliding(1000, 250), e.t)) {
        const id = `${e.k} ${w.start}`;
        const x = expected.get(id) ?? { n: 0, total: 0, users: new Set(), top: new Map() };
        x.n++;
        x.total += e.v!;
        x.users.add(e.u!);
        x.top.set(e.u!, (x.top.get(e.u!) ?? 0) + 1);
        expected.set(id, x);
      }
    }
    expect(h.results).toHaveLength(expected.size);
    for (const r of h.results) {
      const x = expected.get(`${r.key} ${r.window.start}`)!;
      expect(r.window.end - r.window.start).toBe(1000);
      expect(r.final).toBe(true);
      expect(r.values.n).toBe(x.n);
      expect(r.values.total).toBe(x.total);
      expect(r.values.users).toBe(x.users.size); // ≤ 30 distinct: linear counting is exact here
      const best = Math.max(...x.top.values());
      expect(r.values.top[0]!.count).toBe(best); // ≤ 64 distinct users: Space-Saving is exact
      expect(x.top.get(r.values.top[0]!.item)).toBe(best);
    }
  });

  it('a late event within grace re-emits every fired, still-open window that contains it, per key', () => {
    const h = counting(sliding(3000, 1000), { graceMs: 1500 });
    feed(h.agg, [ev('a', 500), ev('a', 4200)]); // W = 4200: [-2000,1000), [-1000,2000), [0,3000) fired; [1000,4000) too
    h.take();
    h.agg.add(ev('a', 2500), 2500); // in [0,3000) (closes at 4500: open), [1000,4000), [2000,5000) (not fired)
    // [1000,4000) had no data when it fired, so this is its first result.
    expect(brief(h.take())).toEqual(['a [0,3000) n=2 r1 late', 'a [1000,4000) n=1 r0 late']);
    h.agg.add(ev('b', 2600), 2600);
    expect(brief(h.take())).toEqual(['b [0,3000) n=1 r0 late', 'b [1000,4000) n=1 r0 late']);
    h.agg.advanceWatermark(4500);
    expect(brief(h.take())).toEqual(['a [0,3000) n=2 r2 final close', 'b [0,3000) n=1 r1 final close']);
    h.agg.flush();
    expect(brief(h.take())).toEqual([
      'a [1000,4000) n=1 r1 final flush',
      'b [1000,4000) n=1 r1 final flush',
      'a [2000,5000) n=2 r0 final flush',
      'b [2000,5000) n=1 r0 final flush',
      'a [3000,6000) n=1 r0 final flush',
      'a [4000,7000) n=1 r0 final flush',
    ]);
  });

  it('an event whose windows have all closed is dropped; one with some open windows is kept for those', () => {
    const h = counting(sliding(3000, 1000), { graceMs: 0 });
    feed(h.agg, [ev('a', 500), ev('a', 3500)]); // W = 3500
    h.take();
    h.agg.add(ev('a', 400), 400); // windows [-2000,1000), [-1000,2000), [0,3000): all closed
    expect(h.late.map((l) => l.reason)).toEqual(['window-closed']);
    h.agg.add(ev('a', 1200), 1200); // [1000,4000) is still open
    expect(h.late).toHaveLength(1);
    h.agg.flush();
    expect(brief(h.take())).toEqual([
      'a [1000,4000) n=2 r0 final flush',
      'a [2000,5000) n=1 r0 final flush',
      'a [3000,6000) n=1 r0 final flush',
    ]);
  });

  it('overflow evicts the oldest pane: the windows containing it are fired early', () => {
    const h = counting(sliding(300, 100), { maxOpenCells: 3, outOfOrdernessMs: 10_000 });
    feed(h.agg, [ev('a', 10), ev('a', 110), ev('a', 210)]);
    h.agg.add(ev('a', 310), 310); // 4th pane: pane [0,100) goes with windows [-200,100), [-100,200), [0,300)
    expect(brief(h.take())).toEqual([
      'a [-200,100) n=1 r0 final evicted',
      'a [-100,200) n=2 r0 final evicted',
      'a [0,300) n=3 r0 final evicted',
    ]);
    h.agg.add(ev('a', 50), 50);
    expect(h.late.map((l) => l.reason)).toEqual(['evicted']);
    h.agg.flush();
    expect(brief(h.take())).toEqual([
      'a [100,400) n=3 r0 final flush',
      'a [200,500) n=2 r0 final flush',
      'a [300,600) n=1 r0 final flush',
    ]);
  });

  it('after an eviction, an event whose every window started before the evicted pane ended is refused', () => {
    // size 90, slide 60: panes of 30; pane [30,60) lies only in window [0,90).
    const h = counting(sliding(90, 60), { maxOpenCells: 2, outOfOrdernessMs: 1000 });
    feed(h.agg, [ev('a', 10), ev('a', 65)]); // panes [0,30), [60,90)
    h.agg.add(ev('a', 125), 125); // a 3rd pane: [0,30) is evicted with windows [-60,30), [0,90)
    expect(brief(h.take())).toEqual(['a [-60,30) n=1 r0 final evicted', 'a [0,90) n=2 r0 final evicted']);
    h.agg.add(ev('a', 40), 40); // ≥ the floor (30), but its only window [0,90) is gone
    expect(h.late.map((l) => `${l.t} ${l.reason}`)).toEqual(['40 evicted']);
    h.agg.flush();
    expect(brief(h.take())).toEqual(['a [60,150) n=2 r0 final flush', 'a [120,210) n=1 r0 final flush']);
  });

  it('snapshot / restore keeps the per-window revisions of fired sliding windows', () => {
    const make = () => counting(sliding(3000, 1000), { graceMs: 2000 });
    const a = make();
    feed(a.agg, [ev('a', 500), ev('a', 4200), ev('a', 2500)]);
    const b = make();
    b.agg.restore(JSON.parse(JSON.stringify(a.agg.snapshot())) as ReturnType<typeof a.agg.snapshot>);
    a.take();
    for (const x of [a, b]) {
      x.agg.add(ev('a', 2600), 2600);
      x.agg.flush();
    }
    expect(brief(b.take())).toEqual(brief(a.take()));
  });
});
