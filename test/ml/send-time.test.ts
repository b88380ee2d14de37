/**
 * The send-time model against its baselines on seeded users with planted habits
 * (src/push/sendtime/simulate.ts; README there). 30 training days, 7 held-out days; each
 * policy's hour is scheduled with the real `nextSendTime` and scored on held-out events.
 *
 * Measured on 2,000 users, seeds 1–8 (npm run eval prints seed 42): learned / best fixed
 * hour (active-hour hit rate) 3.9–4.3×, open rate 2.4–2.6×; the shuffled-history control
 * 0.68–0.82× the best fixed hour. The bars (2×, 1.25×, ≤ 1.1×) sit well inside those.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  evaluateSendTime,
  generateSendTimeData,
  policyResult,
  POLICY,
  SEND_TIME_BAR,
  sendTimeVerdict,
  type SendTimeReport,
} from '../../src/push/sendtime/index.ts';

const SEEDS = [5, 6];
const USERS = 1500;
const reports = new Map<number, SendTimeReport>();

beforeAll(() => {
  for (const seed of SEEDS)
    reports.set(seed, evaluateSendTime(generateSendTimeData({ seed, users: USERS }), {}, seed));
});

describe('send time: learned per-user hour vs fixed hours (held-out days)', () => {
  it.each(SEEDS)('seed %i: the learned hour clearly beats 18:00 and the best fixed hour', (seed) => {
    const r = reports.get(seed)!;
    expect(r.users).toBe(USERS);
    expect(r.activeUserDays).toBeGreaterThan(USERS * 3);
    const learned = policyResult(r, POLICY.learned);
    const best = policyResult(r, POLICY.bestFixed);
    const at18 = policyResult(r, POLICY.fixed18);
    const random = policyResult(r, POLICY.random);
    // The best fixed hour is a real baseline: better than 18:00 or equal, better than random.
    expect(best.activeHourHitRate).toBeGreaterThanOrEqual(at18.activeHourHitRate);
    expect(best.activeHourHitRate).toBeGreaterThan(random.activeHourHitRate);
    for (const baseline of [best, at18]) {
      expect(learned.activeHourHitRate).toBeGreaterThanOrEqual(
        SEND_TIME_BAR.hitRate * baseline.activeHourHitRate,
      );
      expect(learned.openRate).toBeGreaterThanOrEqual(SEND_TIME_BAR.openRate * baseline.openRate);
    }
    expect(learned.plantedHourRate).toBeGreaterThan(0.6);
    expect(sendTimeVerdict(r).clearWin).toBe(true);
  });

  it.each(SEEDS)('seed %i: the shuffled-history control does not beat the best fixed hour', (seed) => {
    const r = reports.get(seed)!;
    const control = policyResult(r, POLICY.shuffled);
    const best = policyResult(r, POLICY.bestFixed);
    expect(control.activeHourHitRate).toBeLessThanOrEqual(SEND_TIME_BAR.control * best.activeHourHitRate);
    expect(control.openRate).toBeLessThanOrEqual(SEND_TIME_BAR.control * best.openRate);
    expect(control.activeHourHitRate).toBeLessThan(0.5 * policyResult(r, POLICY.learned).activeHourHitRate);
    expect(sendTimeVerdict(r).controlHeld).toBe(true);
  });

  it('with no habit to find (every app open at a random hour) the model shows no lift', () => {
    const r = evaluateSendTime(generateSendTimeData({ seed: 7, users: 1000, noise: 1 }), {}, 7);
    const learned = policyResult(r, POLICY.learned);
    // The fixed hours: the best one on (patternless) training activity, and 18:00 — the hour
    // training notifications went out at, where their opens are.
    const fixed = [policyResult(r, POLICY.bestFixed), policyResult(r, POLICY.fixed18)];
    expect(learned.openRate).toBeLessThanOrEqual(1.1 * Math.max(...fixed.map((p) => p.openRate)));
    expect(learned.activeHourHitRate).toBeLessThanOrEqual(
      1.1 * Math.max(...fixed.map((p) => p.activeHourHitRate)),
    );
    expect(sendTimeVerdict(r).clearWin).toBe(false);
  });

  it('decay pays when habits change: every user changes hour during training', () => {
    const data = generateSendTimeData({ seed: 8, users: 1000, driftShare: 1 });
    const decaying = policyResult(evaluateSendTime(data, {}, 8), POLICY.learned);
    const forever = policyResult(evaluateSendTime(data, { halfLifeMs: Infinity }, 8), POLICY.learned);
    console.log(
      `drift: 14-day half-life hit ${decaying.activeHourHitRate.toFixed(3)}, no decay ${forever.activeHourHitRate.toFixed(3)}`,
    );
    expect(decaying.activeHourHitRate).toBeGreaterThan(forever.activeHourHitRate + 0.03);
    expect(decaying.plantedHourRate).toBeGreaterThan(forever.plantedHourRate + 0.05);
  });
});
