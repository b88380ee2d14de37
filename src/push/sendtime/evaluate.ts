/**
 * Offline evaluation of send-time policies on held-out days (`npm run eval`,
 * test/ml/send-time.test.ts). Every policy picks one local hour per user from the
 * training days; on each held-out day the notification is scheduled with the real
 * `nextSendTime` from the user's local midnight, and scored by the local hour it lands in:
 * - active-hour hit rate: the share of user-days (days the user opened the app at all)
 *   whose notification landed in an hour in which the user opened the app that day —
 *   measured on held-out events, not on the planted habits;
 * - open rate: the mean planted probability that the notification is opened;
 * - planted-hour rate: the share of users whose hour is one of their planted active hours.
 */
import { mulberry32 } from '../../core/random/index.ts';
import { localTime, nextSendTime } from '../schedule/index.ts';
import { SendTimeModel, type SendTimeInit } from './model.ts';
import type { SendTimeDataset, SimEvent, SimUser } from './simulate.ts';

export interface PolicyResult {
  policy: string;
  activeHourHitRate: number;
  openRate: number;
  plantedHourRate: number;
}

export interface SendTimeReport {
  users: number;
  trainEvents: number;
  /** User-days with an app open in the held-out period (the hit-rate denominator). */
  activeUserDays: number;
  /** Notifications scored per policy (users × held-out days). */
  notifications: number;
  /** The fixed hour that maximized the hit rate on the training days. */
  bestFixedHour: number;
  /** Users the learned model had enough evidence for (the rest got the default hour). */
  learnedShare: number;
  policies: PolicyResult[];
}

export const POLICY = {
  learned: 'learned (per user)',
  fixed18: 'fixed 18:00 local',
  bestFixed: 'best fixed hour',
  shuffled: 'shuffled history (control)',
  random: 'random hour',
} as const;

type Policy = (user: SimUser) => number;

/** Feeds events to a model, each under `as(event)`'s user id (itself, or a donor's events under the recipient's id). */
function train(
  model: SendTimeModel,
  events: readonly SimEvent[],
  as: (e: SimEvent) => string | undefined,
): void {
  for (const e of events) {
    const id = as(e);
    if (id !== undefined) model.observe(id, e.ts, e.kind, e.timezone);
  }
}

/** The fixed local hour with the most user-days of app activity in training (what an operator would pick). */
export function bestFixedHour(data: SendTimeDataset): number {
  const userDays = new Set<string>();
  const perHour = new Array<number>(24).fill(0);
  for (const e of data.train) {
    if (e.kind !== 'app.opened') continue;
    const t = localTime(e.ts, e.timezone);
    const key = `${e.userId}|${t.year}-${t.month}-${t.day}|${t.hour}`;
    if (userDays.has(key)) continue;
    userDays.add(key);
    perHour[t.hour]!++;
  }
  return perHour.reduce((best, n, h) => (n > perHour[best]! ? h : best), 0);
}

/** A random cyclic permutation (Sattolo): nobody keeps their own history. */
function derangement(n: number, rng: () => number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * i);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

export function evaluateSendTime(
  data: SendTimeDataset,
  modelOptions: SendTimeInit = {},
  seed = 1,
): SendTimeReport {
  const trainEnd = data.train.at(-1)?.ts ?? 0;
  const learned = new SendTimeModel(modelOptions);
  train(learned, data.train, (e) => e.userId);

  // The control: the same model, each user fed another user's history (in that user's zone).
  const index = new Map(data.users.map((u, i) => [u.id, i]));
  const perm = derangement(data.users.length, mulberry32(seed ^ 0x5eed));
  const recipientOf = new Map<string, string>();
  perm.forEach((donor, i) => recipientOf.set(data.users[donor]!.id, data.users[i]!.id));
  const shuffled = new SendTimeModel(modelOptions);
  train(shuffled, data.train, (e) => recipientOf.get(e.userId));

  const fixed = bestFixedHour(data);
  const rng = mulberry32(seed);
  const randomHour = new Map(data.users.map((u) => [u.id, Math.floor(rng() * 24)]));
  const policies: Array<[string, Policy]> = [
    [POLICY.learned, (u) => learned.bestHour(u.id, { nowMs: trainEnd }).localHour],
    [POLICY.fixed18, () => 18],
    [`${POLICY.bestFixed} (${String(fixed).padStart(2, '0')}:00, from training)`, () => fixed],
    [POLICY.shuffled, (u) => shuffled.bestHour(u.id, { nowMs: trainEnd }).localHour],
    [POLICY.random, (u) => randomHour.get(u.id)!],
  ];

  // The hour each scheduled send lands on, per (user, day, requested hour): DST days can move it.
  const landed = new Map<string, number>();
  const landing = (user: SimUser, day: number, start: number, hour: number): number => {
    const key = `${index.get(user.id)!}|${day}|${hour}`;
    let h = landed.get(key);
    if (h === undefined) {
      h = localTime(nextSendTime(start, hour, user.timezone), user.timezone).hour;
      landed.set(key, h);
    }
    return h;
  };

  let activeUserDays = 0;
  let notifications = 0;
  for (const user of data.users) {
    for (const mask of data.testActivity.get(user.id)!) {
      notifications++;
      if (mask !== 0) activeUserDays++;
    }
  }
  const results: PolicyResult[] = policies.map(([name, policy]) => {
    let hits = 0;
    let opens = 0;
    let planted = 0;
    for (const user of data.users) {
      const hour = policy(user);
      if (user.activeHours.includes(hour)) planted++;
      const masks = data.testActivity.get(user.id)!;
      const starts = data.testDayStarts.get(user.id)!;
      masks.forEach((mask, day) => {
        const h = landing(user, day, starts[day]!, hour);
        if (mask & (1 << h)) hits++;
        opens += data.openProbability(user, h, data.options.trainDays + day);
      });
    }
    return {
      policy: name,
      activeHourHitRate: hits / activeUserDays,
      openRate: opens / notifications,
      plantedHourRate: planted / data.users.length,
    };
  });

  const learnedUsers = data.users.filter(
    (u) => learned.bestHour(u.id, { nowMs: trainEnd }).basis === 'learned',
  ).length;
  return {
    users: data.users.length,
    trainEvents: data.train.length,
    activeUserDays,
    notifications,
    bestFixedHour: fixed,
    learnedShare: learnedUsers / data.users.length,
    policies: results,
  };
}

export function policyResult(report: SendTimeReport, prefix: string): PolicyResult {
  const r = report.policies.find((p) => p.policy.startsWith(prefix));
  if (!r) throw new Error(`no policy ${prefix} in the report`);
  return r;
}

export interface SendTimeVerdict {
  /** Learned vs the best fixed hour, active-hour hit rate. */
  hitRateLift: number;
  openRateLift: number;
  /** The shuffled control vs the best fixed hour, active-hour hit rate. */
  controlLift: number;
  /** The learned policy clearly wins: hit rate ≥ 2× and open rate ≥ 1.25× the best fixed hour (and 18:00). */
  clearWin: boolean;
  /** The control does not beat the best fixed hour materially (hit rate ≤ 1.1×). */
  controlHeld: boolean;
}

export const SEND_TIME_BAR = { hitRate: 2, openRate: 1.25, control: 1.1 } as const;

export function sendTimeVerdict(report: SendTimeReport): SendTimeVerdict {
  const learned = policyResult(report, POLICY.learned);
  const best = policyResult(report, POLICY.bestFixed);
  const at18 = policyResult(report, POLICY.fixed18);
  const control = policyResult(report, POLICY.shuffled);
  const baseline = best.activeHourHitRate >= at18.activeHourHitRate ? best : at18;
  const hitRateLift = learned.activeHourHitRate / baseline.activeHourHitRate;
  const openRateLift = learned.openRate / Math.max(best.openRate, at18.openRate);
  const controlLift = control.activeHourHitRate / baseline.activeHourHitRate;
  return {
    hitRateLift,
    openRateLift,
    controlLift,
    clearWin: hitRateLift >= SEND_TIME_BAR.hitRate && openRateLift >= SEND_TIME_BAR.openRate,
    controlHeld: controlLift <= SEND_TIME_BAR.control,
  };
}
