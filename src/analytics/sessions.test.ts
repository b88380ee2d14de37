import { describe, expect, it } from 'vitest';
import {
  addToSessions,
  clearSessions,
  closedSessions,
  maxOpenSessions,
  openSessions,
  sessionHorizon,
  sessionSlots,
  sessionSummary,
  type SessionRules,
} from './sessions.ts';

const MIN = 60_000;
const rules: SessionRules = {
  gapMs: 30 * MIN,
  graceMs: 60 * MIN,
  maxOpen: maxOpenSessions(30 * MIN, 60 * MIN),
};
const T0 = Date.UTC(2026, 0, 1, 12);

/** One user's session state, at an offset inside a bigger record (as users.ts keeps it). */
class State {
  readonly f: Float64Array;
  readonly at = 3;
  readonly r: SessionRules;
  constructor(r: SessionRules) {
    this.r = r;
    this.f = new Float64Array(this.at + sessionSlots(r.maxOpen) + 3).fill(7);
    clearSessions(this.f, this.at, r.maxOpen);
  }
  add(t: number): boolean {
    return addToSessions(this.f, this.at, t, this.r);
  }
  get open(): number[] {
    return openSessions(this.f, this.at).flat();
  }
  get closedCount(): number {
    return closedSessions(this.f, this.at);
  }
  get horizon(): number {
    return sessionHorizon(this.f, this.at);
  }
  summary() {
    return sessionSummary(this.f, this.at);
  }
}

function fold(times: number[], r = rules) {
  const s = new State(r);
  const accepted = times.map((t) => s.add(T0 + t));
  return { s, accepted, summary: s.summary() };
}

describe('sessions (event time, SESSION_GAP_MINUTES)', () => {
  it('a gap just under the limit continues the session; exactly the limit starts a new one', () => {
    expect(fold([0, 30 * MIN - 1]).summary).toEqual({ count: 1, avgDurationMs: 30 * MIN - 1 });
    expect(fold([0, 30 * MIN]).summary).toEqual({ count: 2, avgDurationMs: 0 });
    expect(fold([0, 10 * MIN, 20 * MIN, 50 * MIN - 1]).summary).toEqual({
      count: 1,
      avgDurationMs: 50 * MIN - 1,
    });
  });

  it('duration is last event − first event; a lone event is a 0 ms session', () => {
    expect(fold([0]).summary).toEqual({ count: 1, avgDurationMs: 0 });
    // Sessions of 20 and 0 minutes.
    expect(fold([0, 20 * MIN, 60 * MIN]).summary).toEqual({ count: 2, avgDurationMs: 10 * MIN });
  });

  it('an out-of-order event within grace joins (and can bridge) sessions', () => {
    // Two sessions 40 minutes apart, then a late event in the gap bridges them.
    const { s, accepted, summary } = fold([0, 40 * MIN, 20 * MIN]);
    expect(accepted).toEqual([true, true, true]);
    expect(summary).toEqual({ count: 1, avgDurationMs: 40 * MIN });
    expect(s.open).toEqual([T0, T0 + 40 * MIN]);
    // A late event before the first session extends its start.
    expect(fold([60 * MIN, 40 * MIN]).summary).toEqual({ count: 1, avgDurationMs: 20 * MIN });
  });

  it('sessions become final after gap + grace; an event before the horizon is late and changes nothing', () => {
    const { s } = fold([0, 5 * MIN]);
    // Newest event 2 h later: the first session (last 5 min) is final (5 + 30 + 60 < 120).
    s.add(T0 + 120 * MIN);
    expect(s.closedCount).toBe(1);
    expect(s.open).toEqual([T0 + 120 * MIN, T0 + 120 * MIN]);
    expect(s.horizon).toBe(T0 + 35 * MIN);
    // Would have joined the final session: refused.
    expect(s.add(T0 + 20 * MIN)).toBe(false);
    expect(s.summary()).toEqual({ count: 2, avgDurationMs: Math.round((5 * MIN) / 2) });
    // At the horizon it starts a session of its own (it could not have joined the final one).
    expect(s.add(T0 + 35 * MIN)).toBe(true);
    expect(s.summary().count).toBe(3);
    // The record around the state is untouched.
    expect([...s.f.subarray(0, 3), ...s.f.subarray(-3)]).toEqual([7, 7, 7, 7, 7, 7]);
  });

  it('any arrival order within grace gives the sessions of the sorted stream', () => {
    const times = [0, 3, 7, 50, 52, 90, 200, 205, 236, 300].map((m) => m * MIN);
    const sorted = fold(times).summary;
    expect(sorted.count).toBe(6); // 0–7 · 50–52 · 90 · 200–205 · 236 · 300
    // Reverse within a window of 60 minutes of lateness: each chunk reversed.
    const shuffled = [7, 3, 0, 52, 50, 90, 205, 200, 236, 300].map((m) => m * MIN);
    expect(fold(shuffled).summary).toEqual(sorted);
  });

  it('keeps at most maxOpen open sessions (the oldest becomes final)', () => {
    const r = { ...rules, graceMs: 1000 * MIN, maxOpen: 3 };
    const { s, summary } = fold(
      [0, 40, 80, 120, 160].map((m) => m * MIN),
      r,
    );
    expect(s.open.length).toBe(6);
    expect(s.closedCount).toBe(2);
    expect(summary.count).toBe(5);
  });
});
