/**
 * Seeded synthetic users with planted daily habits, for the send-time evaluation (see
 * README.md for what is planted and why the comparison is still fair).
 *
 * Each user lives in a real IANA zone and has one or two active local hours. Every day
 * they open the app a Poisson number of times (their own rate; some users are light):
 * mostly in an active hour (sometimes the hour next to it), otherwise at any hour (noise).
 * Half the users keep other hours at the weekend (1–3 h later); a fifth change their main
 * hour for good on some day of the training period (a new job, a new term).
 * During training the service sends each user one notification a day at a fixed local
 * hour (18:00, as a service without this model would); it is opened — a
 * `notification.opened` a few minutes later — with a probability that peaks when the
 * send hour is an active hour. The days after training are held out: only which local
 * hours each user opened the app in, per day, is kept, to score policies against.
 */
import { mulberry32 } from '../../core/random/index.ts';
import { instantAtWall, localTime, MINUTE_MS } from '../schedule/index.ts';
import type { SendTimeSignal } from './model.ts';

export interface SendTimeSimOptions {
  seed: number;
  users: number;
  trainDays: number;
  testDays: number;
  /** Local date the simulation starts on (its zone's midnight). Default 2025-03-01: US, EU and southern DST changes fall inside. */
  start: { year: number; month: number; day: number };
  zones: string[];
  /** Share of app opens at a uniformly random hour. */
  noise: number;
  /** Share of in-habit opens one hour off the active hour. */
  jitter: number;
  /** Share of users with a second active hour. */
  twoHourShare: number;
  /** Share of users whose habits move 1–3 h later on Saturdays and Sundays. */
  weekendShiftShare: number;
  /** Share of users whose main hour changes on a day between a third of training and 5 days before its end. */
  driftShare: number;
  /** Mean app opens a day ranges over [min, max], log-uniformly per user. */
  opensPerDay: [number, number];
  /** The local hour training-period notifications are sent at (the status quo policy). */
  trainingSendHour: number;
  /** Open probability far from / at an active hour. */
  openFloor: number;
  openPeak: number;
}

export const SIM_DEFAULTS: Readonly<Omit<SendTimeSimOptions, 'seed'>> = Object.freeze({
  users: 2000,
  trainDays: 30,
  testDays: 7,
  start: { year: 2025, month: 3, day: 1 },
  zones: [
    'America/Los_Angeles',
    'America/New_York',
    'America/Sao_Paulo',
    'Europe/London',
    'Europe/Paris',
    'Africa/Lagos',
    'Asia/Kolkata',
    'Asia/Kathmandu',
    'Asia/Tokyo',
    'Australia/Sydney',
    'Pacific/Auckland',
    'UTC',
  ],
  noise: 0.25,
  jitter: 0.25,
  twoHourShare: 0.4,
  weekendShiftShare: 0.5,
  driftShare: 0.2,
  opensPerDay: [0.25, 4] as [number, number],
  trainingSendHour: 18,
  openFloor: 0.03,
  openPeak: 0.45,
});

/**
 * How common each hour is as someone's main active hour: commutes, lunch, and most of
 * all the evening. Uneven on purpose: a good fixed hour (19–20 h) is a real baseline.
 */
const HOUR_POPULARITY = [
  0.3, 0.15, 0.05, 0.05, 0.05, 0.1, 0.4, 1.0, 1.2, 0.8, 0.5, 0.5, 1.0, 0.9, 0.5, 0.5, 0.6, 1.0, 1.4, 1.6, 1.6,
  1.4, 1.0, 0.6,
];

export interface SimUser {
  id: string;
  timezone: string;
  /** 1 or 2 local hours, as of the held-out days; the first is the main one. */
  activeHours: number[];
  /** Before `changeDay`, the main hour was this one instead (drifting users only). */
  formerMainHour: number | null;
  /** The day index the habit changed on (drifting users), else 0. */
  changeDay: number;
  /** Relative weight of each active hour (main 1). */
  hourWeights: number[];
  opensPerDay: number;
  /** Hours the habits move on weekends (0: none). */
  weekendShift: number;
}

export interface SimEvent {
  userId: string;
  ts: number;
  kind: SendTimeSignal;
  timezone: string;
}

export interface SendTimeDataset {
  options: SendTimeSimOptions;
  users: SimUser[];
  /** Training events in time order. */
  train: SimEvent[];
  /** Held out: per user, per test day, a bit mask of the local hours with an app open. */
  testActivity: Map<string, number[]>;
  /** Per user, the local midnight instant of each test day. */
  testDayStarts: Map<string, number[]>;
  /** The planted probability that `user` opens a notification sent at local `hour` on day `day` (0 = the first day). */
  openProbability(user: SimUser, hour: number, day: number): number;
}

/** Circular distance between two hours of the day. */
export function hourDistance(a: number, b: number): number {
  const d = Math.abs(a - b) % 24;
  return Math.min(d, 24 - d);
}

function pickWeighted(rng: () => number, weights: readonly number[]): number {
  let total = 0;
  for (const w of weights) total += w;
  let r = rng() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i]!;
    if (r < 0) return i;
  }
  return weights.length - 1;
}

function poisson(rng: () => number, mean: number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  let p = rng();
  while (p > limit) {
    k++;
    p *= rng();
  }
  return k;
}

export function generateSendTimeData(
  options: Partial<SendTimeSimOptions> & { seed: number },
): SendTimeDataset {
  const o: SendTimeSimOptions = { ...SIM_DEFAULTS, ...options };
  const rng = mulberry32(o.seed);
  const users: SimUser[] = [];
  for (let i = 0; i < o.users; i++) {
    const main = pickWeighted(rng, HOUR_POPULARITY);
    const activeHours = [main];
    const hourWeights = [1];
    if (rng() < o.twoHourShare) {
      // A second habit at least 3 hours away, e.g. a commute and the evening.
      let second = main;
      while (hourDistance(second, main) < 3) second = pickWeighted(rng, HOUR_POPULARITY);
      activeHours.push(second);
      hourWeights.push(0.4 + 0.5 * rng());
    }
    let formerMainHour: number | null = null;
    let changeDay = 0;
    if (rng() < o.driftShare) {
      formerMainHour = main;
      while (activeHours.some((h) => hourDistance(h, formerMainHour!) < 3))
        formerMainHour = pickWeighted(rng, HOUR_POPULARITY);
      const first = Math.floor(o.trainDays / 3);
      changeDay = first + Math.floor(rng() * Math.max(1, o.trainDays - 5 - first));
    }
    const [lo, hi] = o.opensPerDay;
    users.push({
      id: `u${i}`,
      timezone: o.zones[Math.floor(rng() * o.zones.length)]!,
      activeHours,
      formerMainHour,
      changeDay,
      hourWeights,
      opensPerDay: lo * Math.pow(hi / lo, rng()),
      weekendShift: rng() < o.weekendShiftShare ? 1 + Math.floor(rng() * 3) : 0,
    });
  }

  const { year, month, day } = o.start;
  const isWeekend = (d: number): boolean => {
    const weekday = new Date(Date.UTC(year, month - 1, day + d)).getUTCDay();
    return weekday === 0 || weekday === 6;
  };
  /** The user's active hours on day `d` (weekend shift and habit change applied). */
  const habitsOn = (user: SimUser, d: number): number[] => {
    const shift = isWeekend(d) ? user.weekendShift : 0;
    const hours =
      user.formerMainHour !== null && d < user.changeDay
        ? [user.formerMainHour, ...user.activeHours.slice(1)]
        : user.activeHours;
    return shift === 0 ? hours : hours.map((h) => (h + shift) % 24);
  };
  const openProbability = (user: SimUser, hour: number, d: number): number => {
    let pull = 0;
    habitsOn(user, d).forEach((a, i) => {
      const dist = hourDistance(hour, a);
      pull = Math.max(pull, user.hourWeights[i]! * Math.exp(-(dist * dist) / 2));
    });
    return o.openFloor + (o.openPeak - o.openFloor) * pull;
  };

  const train: SimEvent[] = [];
  const testActivity = new Map<string, number[]>();
  const testDayStarts = new Map<string, number[]>();
  for (const user of users) {
    const tz = user.timezone;
    const at = (d: number, hour: number, minute: number): number =>
      instantAtWall(Date.UTC(year, month - 1, day + d, hour, minute), tz);
    const masks: number[] = [];
    const starts: number[] = [];
    for (let d = 0; d < o.trainDays + o.testDays; d++) {
      const testing = d >= o.trainDays;
      let mask = 0;
      const habits = habitsOn(user, d);
      const opens = poisson(rng, user.opensPerDay);
      for (let k = 0; k < opens; k++) {
        let hour: number;
        if (rng() < o.noise) hour = Math.floor(rng() * 24);
        else {
          hour = habits[pickWeighted(rng, user.hourWeights)]!;
          if (rng() < o.jitter) hour = (hour + (rng() < 0.5 ? 23 : 1)) % 24;
        }
        const ts = at(d, hour, Math.floor(rng() * 60));
        // A skipped hour (DST) moves the event: score by the hour the clock showed.
        if (testing) mask |= 1 << localTime(ts, tz).hour;
        else train.push({ userId: user.id, ts, kind: 'app.opened', timezone: tz });
      }
      if (testing) {
        masks.push(mask);
        starts.push(at(d, 0, 0));
      } else if (rng() < openProbability(user, o.trainingSendHour, d)) {
        const sent = at(d, o.trainingSendHour, 0);
        train.push({
          userId: user.id,
          ts: sent + Math.floor(1 + rng() * 20) * MINUTE_MS,
          kind: 'notification.opened',
          timezone: tz,
        });
      }
    }
    testActivity.set(user.id, masks);
    testDayStarts.set(user.id, starts);
  }
  train.sort((a, b) => a.ts - b.ts);
  return { options: o, users, train, testActivity, testDayStarts, openProbability };
}
