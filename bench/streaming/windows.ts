/**
 * `node bench/streaming/windows.ts`: windowed aggregation throughput, single thread.
 * 1,000,000 synthetic plays — track ids Zipf(s = 1) over 50,000 tracks, users uniform over
 * 100,000, event time 1 ms apart on average with ±200 ms jitter (out-of-orderness bound
 * 500 ms, so no event is late) — through
 * - a tumbling 60 s window: count + distinct(userId) + topK(trackId, 10), one global key
 *   (trending: ~17 windows);
 * - a sliding 5 min / 1 min window with the same aggregations.
 * Events are generated once, before timing, the way a consumer of the event log gets them:
 * each one JSON.parse'd from its serialized body (V8 interns short strings from JSON, so
 * the id strings are shared and scattered over the heap — the aggregator's dominant cost
 * is the cache misses on reading them). POOLED=1 skips the JSON round trip. Each
 * measurement pushes all events through a fresh aggregator and flushes it, after a full
 * GC. Median of 5 runs after one warm-up run. Prints
 * `RESULT {"events":…,"tumblingMs":…,"slidingMs":…,"eventsPerSec":…}` (eventsPerSec:
 * tumbling) on stdout; details (every run, CPU time) go to stderr. EVENTS=n overrides the
 * event count.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  count,
  distinct,
  mulberry32,
  sliding,
  topK,
  tumbling,
  WindowedAggregator,
  zipf,
  type WindowAssigner,
} from '../../src/streaming/windows/index.ts';

// A full GC before each measured run, so no run pays the old-generation GC debt left by
// generating a million events (a ~200 ms mark-compact otherwise lands in the first runs).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Play {
  trackId: string;
  userId: string;
  playedMs: number;
}

const EVENTS = Number(process.env['EVENTS'] ?? 1_000_000);
const TRACKS = 50_000;
const USERS = 100_000;
const RUNS = 5;
const T0 = Date.UTC(2026, 0, 1);
const POOLED = process.env['POOLED'] === '1';

function generate(): { plays: Play[]; times: Float64Array } {
  const random = mulberry32(42);
  const track = zipf(TRACKS, 1, random);
  const trackIds = Array.from({ length: TRACKS }, (_, i) => `t${i}`);
  const userIds = Array.from({ length: USERS }, (_, i) => `u${i}`);
  const plays: Play[] = [];
  const times = new Float64Array(EVENTS);
  for (let i = 0; i < EVENTS; i++) {
    const play: Play = {
      trackId: trackIds[track()]!,
      userId: userIds[Math.floor(random() * USERS)]!,
      playedMs: 30_000 + Math.floor(random() * 200_000),
    };
    plays.push(POOLED ? play : (JSON.parse(JSON.stringify(play)) as Play));
    times[i] = T0 + i + Math.round((random() - 0.5) * 400);
  }
  return { plays, times };
}

function run(
  window: WindowAssigner,
  plays: Play[],
  times: Float64Array,
): { ms: number; cpuMs: number; results: number; plays: number } {
  let results = 0;
  let total = 0;
  const agg = new WindowedAggregator({
    window,
    key: () => 'all',
    aggregations: {
      plays: count<Play>(),
      listeners: distinct((e: Play) => e.userId),
      top: topK((e: Play) => e.trackId, 10),
    },
    outOfOrdernessMs: 500,
    onResult: (r) => {
      results++;
      total += r.values.plays;
    },
  });
  gc();
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < plays.length; i++) agg.add(plays[i]!, times[i]!);
  agg.flush();
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  if (agg.stats.dropped !== 0) throw new Error(`unexpected late events: ${agg.stats.dropped}`);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, results, plays: total };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

const { plays, times } = generate();
const measure = (window: WindowAssigner, name: string): number => {
  run(window, plays, times); // warm-up
  const ms: number[] = [];
  const cpu: number[] = [];
  let last = { ms: 0, cpuMs: 0, results: 0, plays: 0 };
  for (let r = 0; r < RUNS; r++) {
    last = run(window, plays, times);
    ms.push(last.ms);
    cpu.push(last.cpuMs);
  }
  const list = (xs: number[]) => xs.map((m) => m.toFixed(1)).join(' ');
  process.stderr.write(
    `${name}: wall ${list(ms)} ms; cpu ${list(cpu)} ms; ${last.results} results, ${last.plays} plays counted\n`,
  );
  return median(ms);
};
const tumblingMs = measure(tumbling(60_000), 'tumbling 60s');
const slidingMs = measure(sliding(300_000, 60_000), 'sliding 5m/1m');
const round = (x: number) => Math.round(x * 10) / 10;
process.stdout.write(
  `RESULT ${JSON.stringify({ events: EVENTS, tumblingMs: round(tumblingMs), slidingMs: round(slidingMs), eventsPerSec: Math.round(EVENTS / (tumblingMs / 1000)) })}\n`,
);
