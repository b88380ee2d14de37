import { describe, expect, it } from 'vitest';
import { count, distinct, session } from './index.ts';
import { brief, counting, feed, harness, type Ev } from './test-helpers.ts';

const ev = (k: string, t: number, extra: Partial<Ev> = {}): Ev => ({ k, t, ...extra });

describe('session windows', () => {
  it('joins events less than gap apart; events exactly gap apart start a new session', () => {
    const h = counting(session(100));
    feed(h.agg, [ev('a', 0), ev('a', 99), ev('a', 198), ev('a', 298)]); // 198→298 is exactly 100 apart
    h.agg.flush();
    expect(brief(h.results)).toEqual(['a [0,298) n=3 r0 final on-time', 'a [298,398) n=1 r0 final flush']);
  });

  it('fires at last event + gap: end − 1 keeps it open, end fires it', () => {
    const h = counting(session(100));
    h.agg.add(ev('a', 1000), 1000);
    h.agg.advanceWatermark(1099);
    expect(h.take()).toEqual([]);
    h.agg.advanceWatermark(1100);
    expect(brief(h.take())).toEqual(['a [1000,1100) n=1 r0 final on-time']);
  });

  it('keeps sessions per key', () => {
    const h = counting(session(100));
    feed(h.agg, [ev('a', 0), ev('b', 50), ev('a', 90), ev('b', 140), ev('a', 400)]);
    expect(brief(h.take())).toEqual(['a [0,190) n=2 r0 final on-time', 'b [50,240) n=2 r0 final on-time']);
    h.agg.flush();
    expect(brief(h.take())).toEqual(['a [400,500) n=1 r0 final flush']);
  });

  it('a late event within grace that bridges two emitted sessions merges them: one result, revision max + 1, replaces both', () => {
    const h = harness({
      window: session(100),
      key: (e: Ev) => e.k,
      aggregations: { n: count<Ev>(), users: distinct((e: Ev) => e.u) },
      graceMs: 1000,
    });
    feed(h.agg, [
      ev('a', 0, { u: 'x' }),
      ev('a', 50, { u: 'y' }),
      ev('a', 180, { u: 'y' }),
      ev('a', 400, { u: 'z' }),
    ]);
    // W = 400: [0,150) and [180,280) have fired.
    expect(brief(h.take() as never)).toEqual(['a [0,150) n=2 r0 on-time', 'a [180,280) n=1 r0 on-time']);
    h.agg.add(ev('a', 120, { u: 'w' }), 120); // [120,220) overlaps both
    const [merged] = h.take();
    expect(merged).toMatchObject({
      key: 'a',
      window: { start: 0, end: 280 },
      values: { n: 4, users: 3 },
      revision: 1,
      final: false,
      late: true,
      trigger: 'late',
      replaces: [
        { start: 0, end: 150 },
        { start: 180, end: 280 },
      ],
    });
    expect(h.agg.stats.openCells).toBe(2);
    h.agg.advanceWatermark(1280);
    expect(h.take()).toMatchObject([
      { window: { start: 400, end: 500 }, revision: 0, final: false, trigger: 'on-time' },
      { window: { start: 0, end: 280 }, values: { n: 4 }, revision: 2, final: true, trigger: 'close' },
    ]);
    h.agg.flush();
    expect(h.take()).toMatchObject([
      { window: { start: 400, end: 500 }, revision: 1, final: true, trigger: 'flush' },
    ]);
  });

  it('a late event that merges not-yet-fired sessions produces no early result', () => {
    const h = counting(session(100), { outOfOrdernessMs: 1000 });
    feed(h.agg, [ev('a', 0), ev('a', 150), ev('a', 60)]); // 60 bridges [0,100) and [150,250)
    expect(h.agg.stats.openCells).toBe(1);
    h.agg.flush();
    expect(brief(h.results)).toEqual(['a [0,250) n=3 r0 final flush']);
    expect(h.results[0]!.replaces).toBeUndefined();
  });

  it('a late event that extends a fired session past the watermark reopens it; it fires again later with replaces', () => {
    const h = counting(session(100), { graceMs: 500 });
    feed(h.agg, [ev('a', 0), ev('b', 150)]); // W = 150: a's [0,100) fired
    expect(brief(h.take())).toEqual(['a [0,100) n=1 r0 on-time']);
    h.agg.add(ev('a', 90), 90); // → [0,190): ends after W, open again: nothing yet
    expect(h.take()).toEqual([]);
    h.agg.advanceWatermark(190);
    expect(h.take()).toMatchObject([
      {
        key: 'a',
        window: { start: 0, end: 190 },
        revision: 1,
        late: false,
        trigger: 'on-time',
        replaces: [{ start: 0, end: 100 }],
      },
    ]);
    h.agg.add(ev('a', 10), 10); // inside [0,190): late within grace, bounds unchanged
    expect(h.take()).toMatchObject([
      { key: 'a', window: { start: 0, end: 190 }, values: { n: 3 }, revision: 2, late: true },
    ]);
    expect(h.take().some((r) => r.replaces !== undefined)).toBe(false);
  });

  it('an event beyond grace goes to onLate, even when it would have joined a closed session', () => {
    const h = counting(session(100), { graceMs: 50 });
    feed(h.agg, [ev('a', 0), ev('a', 300)]); // W = 300 ≥ 100 + 50: [0,100) closed
    expect(brief(h.take())).toEqual(['a [0,100) n=1 r0 final on-time']);
    h.agg.add(ev('a', 40), 40);
    expect(h.late).toEqual([{ event: ev('a', 40), reason: 'window-closed', t: 40 }]);
    expect(h.agg.stats.droppedClosed).toBe(1);
    h.agg.add(ev('a', 199), 199); // [199,299): 299 + 50 > 300, still acceptable: a new session, late
    expect(brief(h.take())).toEqual(['a [199,299) n=1 r0 late']);
    expect(h.agg.stats.openCells).toBe(2);
  });

  it('an event that would overlap a closed session of its key is refused, though its own window is within grace', () => {
    const h = counting(session(200), { outOfOrdernessMs: 200, graceMs: 200 });
    feed(h.agg, [ev('c', 0), ev('a', 600)]); // W = 400 ≥ 200 + 200: c's [0,200) closed
    expect(brief(h.take())).toEqual(['c [0,200) n=1 r0 final on-time']);
    h.agg.add(ev('c', 10), 10); // [10,210): 210 + 200 > 400, but it overlaps the final [0,200)
    expect(h.late).toEqual([{ event: ev('c', 10), reason: 'window-closed', t: 10 }]);
    h.agg.add(ev('c', 250), 250); // after the closed session: a new session [250,450)
    expect(h.late).toHaveLength(1);
    // W = 600 = 200 + gap + grace, but c still has an open session that [150,350) would
    // merge with, reaching back over [0,200): the tombstone stays while c has one.
    h.agg.advanceWatermark(600);
    expect(brief(h.take())).toEqual(['c [250,450) n=1 r0 on-time']);
    h.agg.add(ev('c', 150), 150);
    expect(h.late.map((l) => l.t)).toEqual([10, 150]);
    h.agg.add(ev('c', 250), 250); // inside the open session: fine
    expect(brief(h.take())).toEqual(['c [250,450) n=2 r1 late']);
    expect(h.agg.stats.openCells).toBe(2);
  });

  it('emit: final gives one result per session, after grace, with the late updates', () => {
    const h = counting(session(100), { graceMs: 200, emit: 'final' });
    feed(h.agg, [ev('a', 0), ev('a', 150), ev('a', 90)]); // W = 150; [90,190) bridges [0,100) and [150,250)
    expect(h.take()).toEqual([]);
    h.agg.advanceWatermark(450);
    expect(brief(h.take())).toEqual(['a [0,250) n=3 r0 final on-time']); // fired and closed in one step
  });

  it('overflow evicts the session due first and refuses event time before its end', () => {
    const h = counting(session(100), { maxOpenCells: 2, outOfOrdernessMs: 10_000 });
    feed(h.agg, [ev('a', 0), ev('b', 500)]);
    h.agg.add(ev('c', 1000), 1000);
    expect(brief(h.take())).toEqual(['a [0,100) n=1 r0 final evicted']);
    expect(h.agg.stats.evictions).toBe(1);
    h.agg.add(ev('a', 50), 50);
    expect(h.late.map((l) => l.reason)).toEqual(['evicted']);
    h.agg.flush();
    expect(brief(h.take())).toEqual(['b [500,600) n=1 r0 final flush', 'c [1000,1100) n=1 r0 final flush']);
    const drop = counting(session(100), { maxOpenCells: 1, overflow: 'drop-new' });
    feed(drop.agg, [ev('a', 0), ev('b', 1), ev('a', 2)]);
    expect(drop.late.map((l) => `${l.event.k} ${l.reason}`)).toEqual(['b overflow']);
  });

  it('snapshot / restore mid-session continues identically', () => {
    const make = () =>
      harness({
        window: session(100),
        key: (e: Ev) => e.k,
        aggregations: { n: count<Ev>(), users: distinct((e: Ev) => e.u) },
        graceMs: 300,
        outOfOrdernessMs: 50,
      });
    const events: Ev[] = [];
    for (let i = 0; i < 600; i++)
      events.push(ev(`k${i % 4}`, i * 23 + ((i * 7) % 11) * 9 - (i % 5 === 0 ? 200 : 0), { u: `u${i % 9}` }));
    const a = make();
    feed(a.agg, events.slice(0, 300));
    const b = make();
    b.agg.restore(JSON.parse(JSON.stringify(a.agg.snapshot())) as ReturnType<typeof a.agg.snapshot>);
    a.take();
    feed(a.agg, events.slice(300));
    feed(b.agg, events.slice(300));
    a.agg.flush();
    b.agg.flush();
    expect(b.take()).toEqual(a.take());
    expect(() => counting(session(50)).agg.restore(a.agg.snapshot())).toThrow(RangeError);
  });
});
