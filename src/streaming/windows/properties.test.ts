import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assignWindows,
  count,
  distinct,
  max,
  min,
  session,
  sliding,
  sum,
  topK,
  tumbling,
  type WindowAssigner,
  type WindowResult,
} from './index.ts';
import { counting, harness, type Ev } from './test-helpers.ts';

const keyArb = fc.constantFrom('a', 'b', 'c');
const eventsArb = fc.array(
  fc.record({
    k: keyArb,
    t: fc.integer({ min: 0, max: 5000 }),
    v: fc.integer({ min: -50, max: 50 }),
    u: fc.constantFrom('u1', 'u2', 'u3', 'u4', 'u5'),
  }),
  { maxLength: 120 },
);

/** An arrival: an event, or an explicit watermark. */
type Step = { event: Ev } | { watermark: number };
const stepsArb = fc.array(
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .record({ k: keyArb, t: fc.integer({ min: 0, max: 5000 }) })
        .map((e): Step => ({ event: e })),
    },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 5500 }).map((w): Step => ({ watermark: w })) },
  ),
  { maxLength: 150 },
);

const id = (r: { key: string | number; window: { start: number; end: number } }) =>
  `${r.key} ${r.window.start} ${r.window.end}`;

/**
 * The result lifecycle: per window × key, revisions 0, 1, 2, … and exactly one final
 * result, the last. A session window whose bounds changed is superseded instead: a later
 * result of its key lists it in `replaces` (never a final one) and continues its revisions.
 */
function checkLifecycle(results: WindowResult<string | number, unknown>[]): void {
  const live = new Map<string, { rev: number; final: boolean }>();
  for (const r of results) {
    let prev = -1;
    for (const w of r.replaces ?? []) {
      const old = live.get(`${r.key} ${w.start} ${w.end}`);
      expect(old?.final).toBe(false);
      prev = Math.max(prev, old!.rev);
      live.delete(`${r.key} ${w.start} ${w.end}`);
    }
    const own = live.get(id(r));
    if (own !== undefined) {
      expect(own.final).toBe(false); // nothing after a final result
      prev = Math.max(prev, own.rev);
    }
    expect(r.revision).toBe(prev + 1);
    live.set(id(r), { rev: r.revision, final: r.final });
  }
  for (const x of live.values()) expect(x.final).toBe(true);
}

/**
 * The reference model for tumbling and sliding windows: an event counts in window w iff w
 * had not closed (W < end + grace) when it arrived; it is dropped iff none of its windows
 * was still open.
 */
function model(window: WindowAssigner, steps: Step[], ooo: number, grace: number) {
  let wm = -Infinity;
  let maxT = -Infinity;
  const counts = new Map<string, number>();
  let dropped = 0;
  for (const s of steps) {
    if ('watermark' in s) {
      wm = Math.max(wm, s.watermark);
      continue;
    }
    const open = assignWindows(window, s.event.t).filter((w) => w.end + grace > wm);
    if (open.length === 0) dropped++;
    for (const w of open)
      counts.set(
        `${s.event.k} ${w.start} ${w.end}`,
        (counts.get(`${s.event.k} ${w.start} ${w.end}`) ?? 0) + 1,
      );
    maxT = Math.max(maxT, s.event.t);
    wm = Math.max(wm, maxT - ooo);
  }
  return { counts, dropped };
}

function run(
  window: WindowAssigner,
  steps: Step[],
  ooo: number,
  grace: number,
  emit: 'eager' | 'final' = 'eager',
) {
  const h = counting(window, { outOfOrdernessMs: ooo, graceMs: grace, emit });
  for (const s of steps) {
    if ('watermark' in s) h.agg.advanceWatermark(s.watermark);
    else h.agg.add(s.event, s.event.t);
  }
  h.agg.flush();
  return h;
}

describe('properties', () => {
  it('tumbling count: sum of final counts + late-dropped = number of events; each final count matches the model', () => {
    fc.assert(
      fc.property(
        stepsArb,
        fc.integer({ min: 0, max: 600 }),
        fc.integer({ min: 0, max: 600 }),
        fc.constantFrom<'eager' | 'final'>('eager', 'final'),
        (steps, ooo, grace, emit) => {
          const window = tumbling(500);
          const h = run(window, steps, ooo, grace, emit);
          const events = steps.filter((s) => 'event' in s).length;
          const finals = h.results.filter((r) => r.final);
          expect(finals.reduce((a, r) => a + r.values.n, 0) + h.agg.stats.dropped).toBe(events);
          expect(h.late).toHaveLength(h.agg.stats.dropped);
          expect(h.agg.stats.accepted + h.agg.stats.dropped).toBe(events);
          const m = model(window, steps, ooo, grace);
          expect(h.agg.stats.dropped).toBe(m.dropped);
          expect(new Map(finals.map((r) => [id(r), r.values.n]))).toEqual(m.counts);
          checkLifecycle(h.results);
          if (emit === 'final') expect(h.results).toHaveLength(finals.length);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('sliding count matches the model (an event counts in each of its windows still open when it arrives)', () => {
    fc.assert(
      fc.property(
        stepsArb,
        fc.integer({ min: 0, max: 600 }),
        fc.integer({ min: 0, max: 600 }),
        fc.constantFrom([600, 200], [500, 500], [900, 600]),
        (steps, ooo, grace, [size, slide]) => {
          const window = sliding(size, slide);
          const h = run(window, steps, ooo, grace);
          const m = model(window, steps, ooo, grace);
          expect(h.agg.stats.dropped).toBe(m.dropped);
          expect(new Map(h.results.filter((r) => r.final).map((r) => [id(r), r.values.n]))).toEqual(m.counts);
          checkLifecycle(h.results);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('results do not depend on arrival order while every event is within the out-of-orderness bound', () => {
    const window = fc.constantFrom<WindowAssigner>(tumbling(700), sliding(900, 300), session(150));
    fc.assert(
      fc.property(
        eventsArb,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 120, maxLength: 120 }),
        window,
        (events, jitter, w) => {
          const ooo = 400;
          const make = () =>
            harness({
              window: w,
              key: (e: Ev) => e.k,
              aggregations: {
                n: count<Ev>(),
                s: sum((e: Ev) => e.v),
                lo: min((e: Ev) => e.v),
                hi: max((e: Ev) => e.v),
                users: distinct((e: Ev) => e.u),
                top: topK((e: Ev) => e.u, 2),
              },
              outOfOrdernessMs: ooo,
            });
          const sorted = [...events].sort((a, b) => a.t - b.t);
          // Arrival order by t + jitter·ooo: each event is at most ooo older than anything before it.
          const shuffled = events
            .map((e, i) => ({ e, at: e.t + jitter[i]! * ooo }))
            .sort((a, b) => a.at - b.at)
            .map((x) => x.e);
          const finals = (evs: Ev[]) => {
            const h = make();
            for (const e of evs) h.agg.add(e, e.t);
            h.agg.flush();
            expect(h.late).toEqual([]);
            // Ties in top-k are broken by item, so equal counts compare equal whatever the order.
            return h.results
              .filter((r) => r.final)
              .map((r) => JSON.stringify([id(r), r.values]))
              .sort();
          };
          expect(finals(shuffled)).toEqual(finals(sorted));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sessions: with no late events the final sessions are exactly the gap-split runs of each key', () => {
    fc.assert(
      fc.property(
        eventsArb,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 120, maxLength: 120 }),
        fc.integer({ min: 1, max: 400 }),
        (events, jitter, gap) => {
          const ooo = 300;
          const h = counting(session(gap), { outOfOrdernessMs: ooo });
          const arrival = events
            .map((e, i) => ({ e, at: e.t + jitter[i]! * ooo }))
            .sort((a, b) => a.at - b.at);
          for (const { e } of arrival) h.agg.add(e, e.t);
          h.agg.flush();
          const expected: string[] = [];
          for (const k of ['a', 'b', 'c']) {
            const ts = events
              .filter((e) => e.k === k)
              .map((e) => e.t)
              .sort((a, b) => a - b);
            let start = 0;
            for (let i = 1; i <= ts.length; i++) {
              if (i === ts.length || ts[i]! - ts[i - 1]! >= gap) {
                expected.push(`${k} ${ts[start]!} ${ts[i - 1]! + gap} n=${i - start}`);
                start = i;
              }
            }
          }
          const got = h.results.filter((r) => r.final).map((r) => `${id(r)} n=${r.values.n}`);
          expect(got.sort()).toEqual(expected.sort());
          checkLifecycle(h.results);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('sessions with late events: final counts + dropped = events, final sessions of a key are disjoint', () => {
    fc.assert(
      fc.property(
        stepsArb,
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 1, max: 300 }),
        (steps, ooo, grace, gap) => {
          const h = counting(session(gap), { outOfOrdernessMs: ooo, graceMs: grace });
          for (const s of steps) {
            if ('watermark' in s) {
              h.agg.advanceWatermark(s.watermark);
              continue;
            }
            const finalsBefore = h.results.filter((r) => r.final && r.key === s.event.k);
            const dropped = h.late.length;
            h.agg.add(s.event, s.event.t);
            if (h.late.length > dropped) continue;
            // An accepted event never lands on (or bridges into) a session already reported final.
            for (const f of finalsBefore)
              expect(s.event.t >= f.window.end || s.event.t + gap <= f.window.start).toBe(true);
          }
          h.agg.flush();
          const events = steps.filter((s) => 'event' in s).length;
          const finals = h.results.filter((r) => r.final);
          expect(finals.reduce((a, r) => a + r.values.n, 0) + h.agg.stats.dropped).toBe(events);
          for (const k of ['a', 'b', 'c']) {
            const ws = finals
              .filter((r) => r.key === k)
              .map((r) => r.window)
              .sort((x, y) => x.start - y.start);
            for (let i = 1; i < ws.length; i++) expect(ws[i]!.start).toBeGreaterThanOrEqual(ws[i - 1]!.end);
          }
          checkLifecycle(h.results);
          expect(h.agg.stats.openCells).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the watermark never moves back, whatever arrives', () => {
    fc.assert(
      fc.property(
        stepsArb,
        fc.integer({ min: 0, max: 600 }),
        fc.constantFrom<WindowAssigner>(tumbling(300), sliding(600, 200), session(100)),
        (steps, ooo, w) => {
          const h = counting(w, { outOfOrdernessMs: ooo, graceMs: 100 });
          let last = -Infinity;
          let expected = -Infinity;
          for (const s of steps) {
            if ('watermark' in s) {
              h.agg.advanceWatermark(s.watermark);
              expected = Math.max(expected, s.watermark);
            } else {
              h.agg.add(s.event, s.event.t);
              expected = Math.max(expected, s.event.t - ooo);
            }
            expect(h.agg.watermark).toBeGreaterThanOrEqual(last);
            expect(h.agg.watermark).toBe(expected);
            last = h.agg.watermark;
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('bounded: open cells never exceed maxOpenCells, and nothing is lost (final counts + dropped = events)', () => {
    fc.assert(
      fc.property(
        stepsArb,
        fc.integer({ min: 1, max: 6 }),
        fc.constantFrom<'evict-oldest' | 'drop-new'>('evict-oldest', 'drop-new'),
        fc.constantFrom<WindowAssigner>(tumbling(300), sliding(600, 300), session(100)),
        (steps, maxOpenCells, overflow, w) => {
          const h = counting(w, { outOfOrdernessMs: 200, graceMs: 200, maxOpenCells, overflow });
          for (const s of steps) {
            if ('watermark' in s) h.agg.advanceWatermark(s.watermark);
            else h.agg.add(s.event, s.event.t);
            expect(h.agg.stats.openCells).toBeLessThanOrEqual(maxOpenCells);
          }
          h.agg.flush();
          checkLifecycle(h.results);
          const events = steps.filter((s) => 'event' in s).length;
          expect(h.agg.stats.accepted + h.agg.stats.dropped).toBe(events);
          if (w.kind !== 'sliding')
            expect(
              h.results.filter((r) => r.final).reduce((a, r) => a + r.values.n, 0) + h.agg.stats.dropped,
            ).toBe(events);
        },
      ),
      { numRuns: 300 },
    );
  });
});
