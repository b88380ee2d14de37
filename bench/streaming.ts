/**
 * `npm run bench -- streaming` (also part of a plain `npm run bench`): the event stream's
 * benchmarks, each its own process printing `RESULT {json}`, each repeated BENCH_RUNS
 * times (default 3), medians reported with the issue's targets beside them. Writes
 * bench/results/streaming.json and bench/results/streaming.md.
 * - ingest: HTTP batches → embedded log → handlers, beside the bare SQLite insert ceiling (bench/streaming/ingest.ts)
 * - insight: 202 → readable track stats under a 50k events/s load (bench/streaming/insight.ts)
 * - kafka: Backbeat's Kafka log vs a bare @platformatic/kafka loop vs kafkajs on the same
 *   broker in the same run (bench/streaming/kafka.ts; needs KAFKA_BROKERS or
 *   TEST_KAFKA_BROKERS, e.g. from `source scripts/lib/ensure.sh; ensure_kafka`)
 * - windows: 1M events through the windowed aggregator (bench/streaming/windows.ts)
 * - recommendations: model update and query latency (bench/streaming/recommendations.ts)
 * - snapshot: handler-state snapshot size and time, restart from it vs a full replay (bench/streaming/snapshot.ts)
 * - restart: a node with a large retained log (1M events of 100k users by default; 10M:
 *   `node bench/streaming/restart.ts 10000000`) ready from its snapshot vs the full replay,
 *   RSS, per-part snapshot costs (bench/streaming/restart.ts)
 * Add a benchmark: one more entry in BENCHES.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const only = process.argv[2]?.replace(/^streaming-?/, '') || undefined;

interface Bench {
  name: string;
  what: string;
  script: string;
  args: string[];
  /** Metric → target text, for the table. */
  metrics: Record<string, string>;
  needsKafka?: boolean;
  /** One run's limit, ms. @default 300_000 */
  timeoutMs?: number;
}

const BENCHES: Bench[] = [
  {
    name: 'ingest',
    what: 'embedded ingest end to end: POST /v1/events batches of 1,000 (4 connections) → SQLite log (fsync per batch) → plays, recommendations and trending-window handlers',
    script: 'bench/streaming/ingest.ts',
    args: ['300000', '1000', '4'],
    metrics: {
      endToEndPerSec: '≥ 100,000 events/s',
      ackPerSec: '',
      postP99ms: '',
      drainMs: '≤ 2,000 ms',
      healthzP99ms: '',
      storagePerSec: 'the storage ceiling',
      endToEndVsStorage: '',
    },
  },
  {
    name: 'insight',
    what: 'event-to-insight under load: plays offered at 50,000 events/s (batches of 1,000, 4 connections) for 10 s; after its first second, every 50 ms a probe play of a fresh track, timed from its 202 until GET /v1/tracks/{id}/stats shows it',
    script: 'bench/streaming/insight.ts',
    args: ['50000', '10'],
    metrics: { insightP50ms: '', insightP99ms: '< 100 ms', achievedPerSec: '50,000 offered' },
  },
  {
    name: 'intake',
    what: 'embedded stream in one process, no HTTP: intake alone (validation + durable SQLite append), then the handlers alone catching up',
    script: 'bench/streaming/intake.ts',
    args: ['200000'],
    metrics: { intakePerSec: '', handlersPerSec: '' },
  },
  {
    name: 'snapshot',
    what: 'handler-state snapshots: 300,000 events of 20,000 users on the embedded log; snapshot size, serialize (the stream waits) and write time, the longest the event loop was held meanwhile; restart from the snapshot vs a full replay, each until caught up',
    script: 'bench/streaming/snapshot.ts',
    args: ['300000', '20000'],
    metrics: {
      snapshotMB: '',
      serializeMs: '',
      maxLoopDelayMs: '',
      longestBlockMs: '',
      writeMs: '',
      restoreMs: '',
      restartFromSnapshotMs: '< full replay',
      restartFullReplayMs: '',
    },
  },
  {
    name: 'restart',
    what: 'restart with a large retained log: 1,000,000 events of 100,000 users written into the embedded log, handled, snapshotted, a 10,000-event tail appended; then in fresh processes the restart from the snapshot (ready: /healthz 200, recommendations from the model, caught up) vs a full replay; RSS when caught up (10M: node bench/streaming/restart.ts 10000000)',
    script: 'bench/streaming/restart.ts',
    args: ['1000000', '100000', '10000'],
    metrics: {
      readyFromSnapshotMs: '< 5,000 ms',
      restartFromSnapshotCpuMs: '',
      restartFullReplayMs: '',
      snapshotMB: '',
      snapshotMs: '',
      rssFromSnapshotMB: '',
      rssFullReplayMB: '',
    },
    timeoutMs: 900_000,
  },
  {
    name: 'kafka',
    what: 'Kafka produce + consume of 200,000 events on one local broker: Backbeat KafkaEventLog vs bare @platformatic/kafka vs kafkajs',
    script: 'bench/streaming/kafka.ts',
    args: ['200000'],
    metrics: { backbeatPerSec: '≥ 0.7 × raw', rawPerSec: '', kafkajsPerSec: '', ratioVsRaw: '≥ 0.7' },
    needsKafka: true,
  },
  {
    name: 'windows',
    what: '1,000,000 play events through the windowed aggregator (tumbling 60 s: count + distinct + top-10; sliding 5 min / 1 min)',
    script: 'bench/streaming/windows.ts',
    args: [],
    metrics: { tumblingMs: '< 500 ms', slidingMs: '', eventsPerSec: '' },
  },
  {
    name: 'recommendations',
    what: 'recommendation model: 100,000 single updates after a 200k warm-up, and queries, without and with its latent factors (trained once, timed)',
    script: 'bench/streaming/recommendations.ts',
    args: [],
    metrics: {
      updateP50us: '',
      updateP99us: '< 1,000 µs',
      recommendP99us: '',
      factorTrainMs: '',
      recommendWithFactorsP50us: '',
      recommendWithFactorsP99us: '',
    },
  },
];

function run(b: Bench): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [b.script, ...b.args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), b.timeoutMs ?? 300_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      const m = /RESULT (.*)/.exec(out);
      if (m) resolve(JSON.parse(m[1]!) as Record<string, number>);
      else reject(new Error(`${b.script} exited ${code}: ${out.slice(-300)}`));
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

type Results = Record<string, { runs: Record<string, number>[]; median: Record<string, number> }>;
const RESULTS_FILE = join(ROOT, 'bench/results/streaming.json');
// A filtered run updates its benchmark and keeps the others' last figures.
const results: Results = existsSync(RESULTS_FILE)
  ? { ...(JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as { results: Results }).results }
  : {};
for (const b of BENCHES) {
  if (only && b.name !== only) continue;
  if (!existsSync(join(ROOT, b.script))) continue;
  if (b.needsKafka && !process.env['KAFKA_BROKERS'] && !process.env['TEST_KAFKA_BROKERS']) {
    console.error(
      `streaming ${b.name}: skipped, no KAFKA_BROKERS / TEST_KAFKA_BROKERS (source scripts/lib/ensure.sh; ensure_kafka)`,
    );
    continue;
  }
  const runs: Record<string, number>[] = [];
  for (let r = 0; r < RUNS; r++) {
    try {
      runs.push(await run(b));
    } catch (err) {
      console.error(`streaming ${b.name}: ${(err as Error).message}`);
    }
  }
  const med: Record<string, number> = {};
  for (const k of Object.keys(runs[0] ?? {}))
    med[k] = median(runs.map((x) => x[k]!).filter((x) => typeof x === 'number'));
  results[b.name] = { runs, median: med };
  console.log(
    `streaming ${b.name.padEnd(16)} ${Object.keys(b.metrics)
      .map((m) => `${m}=${med[m]}`)
      .join(' ')}`,
  );
}

const machine = {
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  memGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  date: new Date().toISOString(),
  runs: RUNS,
};
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(
  RESULTS_FILE,
  JSON.stringify({ machine, benches: BENCHES.filter((b) => results[b.name]), results }, null, 2) + '\n',
);
const lines = [
  '# Event stream benchmark results',
  '',
  `Generated by \`npm run bench -- streaming\` on ${machine.date.slice(0, 10)}: ${machine.cpus} cores (${String(machine.cpuModel)}), ${machine.memGiB} GiB, Node ${machine.node}; median of ${RUNS} runs, each a fresh process; load generators share the machine.`,
  '',
  '| benchmark | metric | median | target |',
  '|---|---|---|---|',
];
for (const b of BENCHES) {
  const r = results[b.name];
  if (!r) continue;
  for (const [m, target] of Object.entries(b.metrics))
    lines.push(`| ${b.what} | ${m} | ${r.median[m] ?? '—'} | ${target} |`);
}
lines.push('', 'Raw data: streaming.json.', '');
writeFileSync(join(ROOT, 'bench/results/streaming.md'), lines.join('\n'));
console.log('wrote bench/results/streaming.json and bench/results/streaming.md');
