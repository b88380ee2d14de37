/**
 * `node bench/analytics.ts`: the listening-analytics targets of issue #10, in one process
 * on this machine. Writes bench/results/analytics.json and bench/results/analytics.md.
 *
 * 1. Fold 1,000,000 `track.played` events (100,000 users, 50,000 tracks by Zipf(1.0),
 *    5,000 artists, a week of event time) into a fresh AnalyticsService, consent from an
 *    in-memory table (every user asked once, in batches, like the store), as the stream
 *    processor does: each event decoded from its JSON body just before it is handled
 *    (fresh strings, like `decodeEvent`), a returned promise awaited. Decoding is timed
 *    apart and not counted in the fold. Two traffic shapes:
 *    - sessions: 2,000 listeners active at a time, each playing ~12 tracks in a row
 *      (how listening looks: the realistic case);
 *    - uniform: every event from a uniformly random user (no locality at all: worst case).
 *    Reported: fold time (CPU and wall) of the first pass (every user new: pseudonyms,
 *    consent lookups) and of a second pass over the same users (steady state), ns per
 *    event, the state's size estimate and heap growth.
 * 2. Queries over the 100,000-user state, with the result cache off (every call
 *    computes): trending (24h, limit 20), user, segments, overview: p50 / p99.
 * Env: ANALYTICS_BENCH_N (default 1000000), ANALYTICS_BENCH_USERS (default 100000).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { AnalyticsService, type AnalyticsEvent } from '../src/analytics/index.ts';
import { mulberry32 } from '../src/core/random/index.ts';
import { ManualClock } from '../src/core/time/index.ts';

const ROOT = join(import.meta.dirname, '..');
const N = Number(process.env['ANALYTICS_BENCH_N'] ?? 1_000_000);
const USERS = Number(process.env['ANALYTICS_BENCH_USERS'] ?? 100_000);
const TRACKS = 50_000;
const ARTISTS = 5_000;
const CHUNK = 10_000;
const NOW = Date.UTC(2026, 0, 20, 12);
const WEEK = 7 * 86_400_000;

/** Zipf(s) ranks 0..n−1 by inverse CDF. */
function zipf(n: number, s: number, rnd: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1) ** s;
  return () => {
    const x = rnd() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** The JSON bodies of N plays, as the log holds them. */
function generate(shape: 'sessions' | 'uniform', seed: number): string[] {
  const rnd = mulberry32(seed);
  const track = zipf(TRACKS, 1.0, rnd);
  const active = Int32Array.from({ length: 2000 }, () => Math.floor(rnd() * USERS));
  const bodies: string[] = [];
  for (let i = 0; i < N; i++) {
    let user: number;
    if (shape === 'uniform') user = Math.floor(rnd() * USERS);
    else {
      const k = Math.floor(rnd() * active.length);
      user = active[k]!;
      if (rnd() < 1 / 12) active[k] = Math.floor(rnd() * USERS); // the session ends; another listener starts
    }
    const t = track();
    const ts = NOW - WEEK + Math.floor((i / N) * WEEK);
    const body = {
      id: `e${seed}-${i}`,
      type: 'track.played',
      userId: `user-${user}`,
      ts,
      data: {
        trackId: `track-${t}`,
        artistId: `artist-${(t * 7919) % ARTISTS}`,
        durationMs: 200_000,
        playedMs: Math.floor(rnd() * 200_000),
      },
    };
    bodies.push(JSON.stringify(body));
  }
  return bodies;
}

function service(dataDir: string, clock: ManualClock, queryCacheMs = 1000): AnalyticsService {
  return new AnalyticsService({
    clock,
    logger: pino({ level: 'warn' }),
    registry: new Registry(),
    sessionGapMinutes: 30,
    consentDefault: 'granted',
    consent: async () => new Map(),
    dataDir,
    limits: { queryCacheMs },
  });
}

interface Pass {
  foldCpuMs: number;
  foldWallMs: number;
  nsPerEvent: number;
  decodeMs: number;
}

/** One pass over the bodies: decode a chunk (untimed), fold it (timed), as the processor does per batch. */
async function pass(svc: AnalyticsService, bodies: string[]): Promise<Pass> {
  let cpu = 0;
  let wall = 0;
  let decode = 0;
  const ctx = { replay: true, owner: true };
  for (let i = 0; i < bodies.length; i += CHUNK) {
    const d0 = performance.now();
    const events = bodies.slice(i, i + CHUNK).map((b) => JSON.parse(b) as AnalyticsEvent);
    decode += performance.now() - d0;
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    for (const e of events) {
      const r = svc.handler.handle(e, ctx);
      if (r) await r;
    }
    await svc.settled();
    wall += performance.now() - w0;
    const c = process.cpuUsage(c0);
    cpu += (c.user + c.system) / 1000;
  }
  return {
    foldCpuMs: Math.round(cpu),
    foldWallMs: Math.round(wall),
    nsPerEvent: Math.round((cpu * 1e6) / bodies.length),
    decodeMs: Math.round(decode),
  };
}

function quantiles(samples: number[]): { p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))]! * 1000) / 1000;
  return { p50: at(0.5), p99: at(0.99) };
}

function timeQueries(
  svc: AnalyticsService,
  clock: ManualClock,
): Record<string, { p50: number; p99: number }> {
  const rnd = mulberry32(99);
  const measure = (n: number, fn: (i: number) => unknown) => {
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      clock.tick(1);
      const t0 = performance.now();
      fn(i);
      samples.push(performance.now() - t0);
    }
    return quantiles(samples);
  };
  return {
    trendingMs: measure(200, () => svc.trending('track', '24h', 20)),
    userMs: measure(5000, () => svc.user(`user-${Math.floor(rnd() * USERS)}`)),
    segmentsMs: measure(50, () => svc.segments()),
    overviewMs: measure(200, () => svc.overviewPart()),
  };
}

const gc = (globalThis as { gc?: () => void }).gc;
const heapMiB = () => {
  gc?.();
  return Math.round(process.memoryUsage().heapUsed / 2 ** 20);
};

/** A fixed CPU-bound loop: how fast this machine is *right now* (shared cores), to read the figures against. */
function calibrate(): number {
  const c0 = process.cpuUsage();
  let x = 0;
  for (let i = 0; i < 3e8; i++) x = (x + Math.imul(i, 2654435761)) | 0;
  const c = process.cpuUsage(c0);
  if (x === 42) console.log(x);
  return Math.round((c.user + c.system) / 1000);
}

const calibrationBefore = calibrate();
const results: Record<string, unknown> = {};
for (const shape of ['sessions', 'uniform'] as const) {
  const bodies = generate(shape, shape === 'sessions' ? 1 : 2);
  const dir = mkdtempSync(join(tmpdir(), 'backbeat-analytics-bench-'));
  const clock = new ManualClock(NOW);
  const heap0 = heapMiB();
  const svc = service(dir, clock, 0);
  const first = await pass(svc, bodies);
  const second = await pass(
    svc,
    bodies.map((b) => b.replace('"id":"e', '"id":"again-e')),
  );
  const stats = svc.stats();
  const heap = heapMiB() - heap0;
  const queries = shape === 'sessions' ? timeQueries(svc, clock) : undefined;
  results[shape] = {
    events: N,
    users: USERS,
    trackedUsers: stats.trackedUsers,
    firstPass: first,
    steadyPass: second,
    stateMiB: Math.round(stats.approxBytes / 2 ** 20),
    heapGrowthMiB: heap,
    ...(queries ? { queries } : {}),
  };
  console.log(shape, JSON.stringify(results[shape]));
  rmSync(dir, { recursive: true, force: true });
}

const calibrationMs = Math.round((calibrationBefore + calibrate()) / 2);
const machine = {
  calibrationMs,
  cpus: cpus().length,
  cpu: cpus()[0]?.model,
  memGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  load: (await import('node:os')).loadavg().map((x) => Math.round(x * 10) / 10),
};
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(
  join(ROOT, 'bench/results/analytics.json'),
  JSON.stringify({ machine, results }, null, 2) + '\n',
);
const r = results as Record<
  'sessions' | 'uniform',
  {
    firstPass: Pass;
    steadyPass: Pass;
    stateMiB: number;
    heapGrowthMiB: number;
    queries?: Record<string, { p50: number; p99: number }>;
  }
>;
const row = (name: string, p: Pass) =>
  `| ${name} | ${p.foldCpuMs} | ${p.foldWallMs} | ${p.nsPerEvent} | ${p.decodeMs} |`;
const lines = [
  '# Analytics benchmark results',
  '',
  `Machine: ${machine.cpus} × ${machine.cpu}, ${machine.memGiB} GiB, Node ${machine.node}; load average at the end ${machine.load.join(' / ')} (other work shares the cores: CPU time is the steadier figure).`,
  `Calibration: a fixed loop of 3e8 multiply-adds took ${calibrationMs} ms CPU during this run (mean of before and after): compare runs by it — on shared cores it swings several-fold with the other work.`,
  `${N.toLocaleString('en')} track.played events, ${USERS.toLocaleString('en')} users, ${TRACKS.toLocaleString('en')} tracks (Zipf 1.0), ${ARTISTS.toLocaleString('en')} artists, one week of event time. Target: fold 1M events in < 1 s.`,
  '',
  '| pass | fold CPU ms | fold wall ms | ns / event (CPU) | JSON decode ms (not in fold) |',
  '|---|---|---|---|---|',
  row('sessions, first (all users new)', r.sessions.firstPass),
  row('sessions, steady', r.sessions.steadyPass),
  row('uniform, first (all users new)', r.uniform.firstPass),
  row('uniform, steady', r.uniform.steadyPass),
  '',
  `State estimate ${r.sessions.stateMiB} MiB (heap growth ${r.sessions.heapGrowthMiB} MiB) for ${USERS.toLocaleString('en')} users.`,
  '',
  '| query (100k users, cache off) | p50 ms | p99 ms |',
  '|---|---|---|',
  ...Object.entries(r.sessions.queries ?? {}).map(
    ([k, q]) => `| ${k.replace(/Ms$/, '')} | ${q.p50} | ${q.p99} |`,
  ),
  '',
];
writeFileSync(join(ROOT, 'bench/results/analytics.md'), lines.join('\n'));
console.log('wrote bench/results/analytics.json and bench/results/analytics.md');
