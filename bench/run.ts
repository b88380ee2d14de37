/**
 * `npm run bench [-- <filter>]`: runs every scenario against Backbeat and its peers
 * (raw ws, corked raw ws, Socket.IO 4) side by side, in one run on this machine. Each
 * server and each load generator is its own process; each measurement is repeated
 * BENCH_RUNS times (default 3) and the median is reported. Writes
 * bench/results/gateway.json and bench/results/README.md. `npm run bench -- gateway` runs the
 * single-node scenarios, `-- cluster` the 3-node ones (Redis at REDIS_URL, default local),
 * `-- push` the push benchmarks (bench/push.ts → push.json, push.md).
 * `-- <name part>` runs the scenarios whose name contains it (e.g. `-- rooms`, `-- idle`).
 * Env: BENCH_RUNS (default 3); BENCH_SERVERS=backbeat,raw-corked runs only those servers;
 * BENCH_RESULTS_DIR writes gateway.json / README.md elsewhere (default bench/results);
 * BENCH_NODE_FLAGS: node flags of the Backbeat server (default scripts/start.sh's
 * `--max-semi-space-size=8`; e.g. `BENCH_NODE_FLAGS=` for V8's defaults);
 * NODE_COMPILE_CACHE: the Backbeat server's compile cache, as scripts/start.sh sets it
 * (default .cache/node-compile; empty turns it off).
 * Add a scenario to SCENARIOS (its args go to loadgen.ts); add a server to SERVERS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { signHs256 } from '../src/core/auth/index.ts';

const ROOT = join(import.meta.dirname, '..');
const NODE = process.execPath;
const SECRET = 'bench-secret-0123456789abcdef0123456789';
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const filter = process.argv[2];
const ONLY_SERVERS = process.env['BENCH_SERVERS']?.split(',').filter(Boolean);
const OUT_DIR = process.env['BENCH_RESULTS_DIR'] ?? join(ROOT, 'bench/results');
// The node flags scripts/start.sh runs Backbeat with (its young-generation cap), unless overridden.
const BACKBEAT_FLAGS = (process.env['BENCH_NODE_FLAGS'] ?? '--max-semi-space-size=8')
  .split(' ')
  .filter(Boolean);
// And with Node's compile cache, as scripts/start.sh runs it: without it every start loads the
// TypeScript stripper (~17 MiB resident) and strips every file again, which no user's node
// does from its second start on (docs/operations.md, "Memory").
const COMPILE_CACHE = process.env['NODE_COMPILE_CACHE'] ?? join(ROOT, '.cache/node-compile');
const BACKBEAT_ENV: Record<string, string> = { NODE_COMPILE_CACHE: COMPILE_CACHE };

// Every server runs with --expose-gc so the RSS measurement can settle garbage first (all alike).
const SERVERS: Record<string, string[]> = {
  backbeat: ['--expose-gc', ...BACKBEAT_FLAGS, 'bench/peers/backbeat.ts'],
  raw: ['--expose-gc', 'bench/peers/raw-ws.ts'],
  'raw-corked': ['--expose-gc', 'bench/peers/raw-ws.ts', '--corked'],
  socketio: ['--expose-gc', 'bench/peers/socketio.ts'],
};

interface Scenario {
  name: string;
  what: string;
  args: Record<string, unknown>;
  metrics: string[];
  /** Cluster scenarios run 3 nodes of each server on one Redis (CLUSTER_SERVERS). */
  cluster?: boolean;
}

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
/** 3-node peers: Backbeat on its Redis engines vs Socket.IO 4 with @socket.io/redis-adapter. */
const CLUSTER_SERVERS: Record<string, (run: number) => { args: string[]; env: Record<string, string> }> = {
  backbeat: (run) => ({
    args: ['bench/peers/backbeat.ts'],
    env: { ...BACKBEAT_ENV, REDIS_URL, REDIS_PREFIX: `bench-${process.pid}-${run}:` },
  }),
  socketio: () => ({ args: ['bench/peers/socketio.ts', '--redis', REDIS_URL], env: {} }),
};
const SCENARIOS: Scenario[] = [
  {
    name: 'idle',
    what: 'fresh server, idle (no clients)',
    args: { scenario: 'idle', durationMs: 3000 },
    metrics: ['idleRssMiB', 'idleRssAfterGcMiB'],
  },
  {
    name: 'connect-1k',
    what: 'connect 1,000 clients',
    args: { scenario: 'connect', n: 1000 },
    metrics: ['connectsPerSec', 'rssPerConnKiB'],
  },
  {
    name: 'connect-5k',
    what: 'connect 5,000 clients',
    args: { scenario: 'connect', n: 5000 },
    metrics: ['connectsPerSec', 'rssPerConnKiB'],
  },
  {
    name: 'connect-10k',
    what: 'connect 10,000 clients (RSS per idle connection)',
    args: { scenario: 'connect', n: 10000 },
    metrics: ['connectsPerSec', 'rssPerConnKiB'],
  },
  {
    name: 'fanout-1k-100ps',
    what: '1 channel × 1,000 subscribers, 100 msgs/s',
    args: { scenario: 'rate', subs: 1000, channels: 1, rate: 100, durationMs: 5000 },
    metrics: ['deliveredPerSec', 'p50ms', 'p99ms', 'loss', 'cpuUsPerDelivery'],
  },
  {
    name: 'fanout-1k-1kps',
    what: '1 channel × 1,000 subscribers, 1,000 msgs/s (1M deliveries/s offered)',
    args: { scenario: 'rate', subs: 1000, channels: 1, rate: 1000, durationMs: 3000 },
    metrics: ['deliveredPerSec', 'p50ms', 'p99ms', 'loss', 'cpuUsPerDelivery'],
  },
  {
    name: 'rooms-100x10',
    what: '100 channels × 10 subscribers, 1,000 msgs/s',
    args: { scenario: 'rate', subs: 1000, channels: 100, rate: 1000, durationMs: 5000 },
    metrics: ['deliveredPerSec', 'p50ms', 'p99ms', 'loss', 'cpuUsPerDelivery'],
  },
  {
    name: 'saturate-1k',
    what: '1 channel × 1,000 subscribers, publish as fast as acknowledged (64 in flight)',
    args: { scenario: 'saturate', subs: 1000, channels: 1, window: 64, durationMs: 4000 },
    metrics: ['deliveredPerSec', 'p50ms', 'p99ms', 'loss', 'cpuUsPerDelivery'],
  },
  {
    name: 'cluster-saturate',
    what: '3 nodes on Redis: 1 channel × 1,000 subscribers spread over the nodes, publish as fast as acknowledged',
    args: { scenario: 'saturate', subs: 1000, channels: 1, window: 64, durationMs: 4000 },
    metrics: ['deliveredPerSec', 'p50ms', 'p99ms', 'loss', 'cpuUsPerDelivery'],
    cluster: true,
  },
  {
    name: 'cluster-1k-100ps',
    what: '3 nodes on Redis: 1 channel × 1,000 subscribers, 100 msgs/s',
    args: { scenario: 'rate', subs: 1000, channels: 1, rate: 100, durationMs: 5000 },
    metrics: ['deliveredPerSec', 'p50ms', 'p99ms', 'loss', 'cpuUsPerDelivery'],
    cluster: true,
  },
];

function start(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'bash',
      ['-c', 'ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$0" "$@"', NODE, ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`server ${args.join(' ')} exited ${code}`)));
  });
}

function loadgen(args: Record<string, unknown>): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'bash',
      [
        '-c',
        'ulimit -n 65536 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$0" "$@"',
        NODE,
        'bench/loadgen.ts',
        JSON.stringify(args),
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      const m = /RESULT (.*)/.exec(out);
      if (m) resolve(JSON.parse(m[1]!) as Record<string, number>);
      else reject(new Error(`loadgen exited ${code}: ${out.slice(-300)}`));
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

// The event stream's benchmarks live in bench/streaming.ts; `-- streaming[-name]` runs only them.
async function runStreaming(arg?: string): Promise<void> {
  const child = spawn(NODE, ['bench/streaming.ts', ...(arg ? [arg] : [])], { cwd: ROOT, stdio: 'inherit' });
  await new Promise((res) => child.once('exit', res));
}
if (filter?.startsWith('streaming')) {
  await runStreaming(filter);
  process.exit(0);
}
// The push benchmarks (issue #9: 100k notifications vs bare loops, Web Push CPU, templates) live in bench/push.ts.
async function runPush(): Promise<void> {
  const child = spawn(NODE, ['bench/push.ts'], { cwd: ROOT, stdio: 'inherit' });
  await new Promise((res) => child.once('exit', res));
}
if (filter === 'push') {
  await runPush();
  process.exit(0);
}
// Analytics and GDPR end to end (issue #10: erasure from 1M events, event → insight, → dashboard) live in bench/analytics-e2e.ts.
if (filter === 'analytics-e2e') {
  const child = spawn(NODE, ['bench/analytics-e2e.ts'], { cwd: ROOT, stdio: 'inherit' });
  await new Promise((res) => child.once('exit', res));
  process.exit(0);
}

const token = await signHs256(SECRET, { sub: 'bench', channels: ['*'], publish: ['*'] }, 24 * 3600);
// `--render` only rewrites the table from gateway.json; a filtered run updates its scenarios and keeps the others.
const renderOnly = filter === '--render';
const scenarios = renderOnly
  ? []
  : SCENARIOS.filter(
      (s) =>
        !filter ||
        (filter === 'gateway' && !s.cluster) ||
        (filter === 'cluster' && s.cluster) ||
        s.name.includes(filter),
    );
type Results = Record<
  string,
  Record<string, { runs: Record<string, number>[]; median: Record<string, number> }>
>;
const RESULTS_FILE = join(OUT_DIR, 'gateway.json');
const previous = existsSync(RESULTS_FILE)
  ? (JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as { results: Results; machine: Record<string, unknown> })
  : undefined;
const results: Results = { ...(previous?.results ?? {}) };

// One start of the Backbeat server before the measured ones, as a user's second start is: it
// writes the compile cache (a first start strips TypeScript and keeps the stripper loaded).
if (
  COMPILE_CACHE &&
  scenarios.some((s) => !s.cluster) &&
  (!ONLY_SERVERS || ONLY_SERVERS.includes('backbeat'))
) {
  const warm = await start(SERVERS['backbeat']!, BACKBEAT_ENV);
  warm.child.kill('SIGKILL');
  await new Promise((res) => warm.child.once('exit', res));
}

for (const sc of scenarios) {
  results[sc.name] = { ...(results[sc.name] ?? {}) };
  const servers = (sc.cluster ? Object.keys(CLUSTER_SERVERS) : Object.keys(SERVERS)).filter(
    (s) => !ONLY_SERVERS || ONLY_SERVERS.includes(s),
  );
  for (const server of servers) {
    const runs: Record<string, number>[] = [];
    for (let r = 0; r < RUNS; r++) {
      // Fresh server processes per run: no state or heap growth carried between measurements.
      const nodes: Array<{ child: ChildProcess; port: number }> = [];
      try {
        if (sc.cluster) {
          const spec = CLUSTER_SERVERS[server]!(r);
          for (let i = 0; i < 3; i++) nodes.push(await start(spec.args, spec.env));
        } else nodes.push(await start(SERVERS[server]!, server === 'backbeat' ? BACKBEAT_ENV : {}));
        const ports = nodes.map((n) => n.port);
        runs.push(
          await loadgen({
            ...sc.args,
            kind: server,
            port: ports[0],
            ports,
            serverPid: nodes[0]!.child.pid,
            token,
          }),
        );
      } catch (err) {
        console.error(`${sc.name} ${server}: ${(err as Error).message}`);
      } finally {
        for (const n of nodes) {
          n.child.kill('SIGKILL');
          await new Promise((res) => n.child.once('exit', res));
        }
      }
    }
    const med: Record<string, number> = {};
    for (const k of Object.keys(runs[0] ?? {})) med[k] = median(runs.map((x) => x[k]!));
    results[sc.name]![server] = { runs, median: med };
    console.log(
      `${sc.name.padEnd(16)} ${server.padEnd(11)} ${sc.metrics.map((m) => `${m}=${med[m]}`).join(' ')}`,
    );
  }
}

mkdirSync(OUT_DIR, { recursive: true });
const machine =
  renderOnly && previous
    ? previous.machine
    : {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        memGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        date: new Date().toISOString(),
        runs: RUNS,
      };
writeFileSync(
  RESULTS_FILE,
  JSON.stringify({ machine, scenarios: SCENARIOS.filter((s) => results[s.name]), results }, null, 2) + '\n',
);

const ratio = (a: number | undefined, b: number | undefined) => (a && b ? (a / b).toFixed(2) : '—');
const lines = [
  '# Benchmark results',
  '',
  `Generated by \`npm run bench\` on ${String(machine.date).slice(0, 10)}: ${String(machine.cpus)} cores (${String(machine.cpuModel)}), ${String(machine.memGiB)} GiB, Node ${String(machine.node)}; median of ${String(machine.runs)} runs, each with a fresh server process; RSS is read in steady state, after repeated full GCs in the server over ~5 s (every server alike); the load generator is a separate process on the same machine (so it competes with the server for the 2 cores).`,
  '',
  '| scenario | metric | Backbeat | raw ws | raw ws corked | Socket.IO 4 | Backbeat / corked | Backbeat / raw | Backbeat / Socket.IO |',
  '|---|---|---|---|---|---|---|---|---|',
];
for (const sc of SCENARIOS) {
  const r = results[sc.name];
  if (!r) continue;
  for (const m of sc.metrics) {
    const v = (s: string) => r[s]?.median[m];
    lines.push(
      `| ${sc.what} | ${m} | ${v('backbeat') ?? '—'} | ${v('raw') ?? '—'} | ${v('raw-corked') ?? '—'} | ${v('socketio') ?? '—'} | ${ratio(v('backbeat'), v('raw-corked'))} | ${ratio(v('backbeat'), v('raw'))} | ${ratio(v('backbeat'), v('socketio'))} |`,
    );
  }
}
lines.push(
  '',
  'Raw data: gateway.json. Metrics: deliveredPerSec = messages received by all subscribers / (last receipt − first publish); p50/p99 = publish-to-delivery latency in ms; loss = expected − received deliveries; rssPerConnKiB = server RSS growth / connections; cpuUsPerDelivery = server CPU time (user + system, all threads, /proc/<pid>/stat) from the first publish to the last delivery / deliveries received; idleRssMiB = RSS of a fresh server 3 s after it is ready with no client (no forced GC), idleRssAfterGcMiB = the same after repeated full GCs.',
  '',
  'Event stream benchmarks (ingest, Kafka, windows, recommendations): [streaming.md](streaming.md). Push (100k notifications, Web Push CPU, templates): [push.md](push.md).',
  '',
);
writeFileSync(join(OUT_DIR, 'README.md'), lines.join('\n'));
console.log(`wrote ${join(OUT_DIR, 'gateway.json')} and ${join(OUT_DIR, 'README.md')}`);
if (!filter) {
  await runStreaming();
  await runPush();
}
