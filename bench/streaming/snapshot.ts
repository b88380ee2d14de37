/**
 * Snapshots of the stream handlers' state, on the embedded engines in one process: fills
 * the log with N play events (U users, 5,000 tracks), lets the handlers catch up, takes a
 * snapshot (serialize time: the stream waits; write time: in the background; file size),
 * the longest the event loop was held at once meanwhile (`maxLoopDelayMs`: the largest gap
 * between 5 ms ticks; `longestBlockMs`: the processor's own gauge, its slices and parts),
 * then measures a restart twice on the same log: from the snapshot (restore + empty tail)
 * and from no snapshot (full replay), each until caught up.
 * Per part of the file (processor, each handler): bytes, serialize CPU ms (snapshot() +
 * v8.serialize) and restore CPU ms (deserialize + restore()), from the
 * `backbeat_streaming_snapshot_part_*` gauges (process.cpuUsage, not wall time).
 * Prints `RESULT {…}`. Usage: node bench/streaming/snapshot.ts [N=300000] [U=20000] [noreplay]
 * (`noreplay`: skip the full-replay restart).
 */
import { cpSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from '../../src/app.ts';
import { loadConfig } from '../../src/core/config/index.ts';
import { mulberry32 } from '../../src/core/random/index.ts';

const N = Number(process.argv[2] ?? 300_000);
const U = Number(process.argv[3] ?? 20_000);
const fullReplay = process.argv[4] !== 'noreplay';
const dir = mkdtempSync(join(tmpdir(), 'bb-snapbench-'));
const copy = mkdtempSync(join(tmpdir(), 'bb-snapbench-replay-'));
const start = (dataDir: string) =>
  new App(
    loadConfig({
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      JWT_SECRET: 'bench-secret-0123456789abcdef0123456789',
      LOG_LEVEL: 'warn',
    }),
    { streaming: { snapshotEveryEvents: 1e12, snapshotEveryMs: 3_600_000 } },
  ).start();
const histogramSum = async (app: App, phase: string) => {
  const m = await app.metrics.registry.getSingleMetric('backbeat_streaming_snapshot_duration_seconds')!.get();
  return (
    m.values.find(
      (v) => (v as { metricName?: string }).metricName?.endsWith('_sum') && v.labels['phase'] === phase,
    )?.value ?? 0
  );
};
const gauge = async (app: App, name: string, phase?: string) => {
  const m = await app.metrics.registry.getSingleMetric(name)!.get();
  const out: Record<string, number> = {};
  for (const v of m.values)
    if (phase === undefined || v.labels['phase'] === phase) out[String(v.labels['part'])] = v.value;
  return out;
};
const cpu = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

const app = await start(dir);
const rnd = mulberry32(42);
const t0 = Date.now() - 6 * 3_600_000;
for (let b = 0; b < N / 1000; b++) {
  const events = [];
  for (let i = 0; i < 1000; i++) {
    const track = Math.floor(5000 * rnd() ** 3);
    events.push({
      type: i % 10 === 9 ? 'track.liked' : 'track.played',
      userId: `u${Math.floor(rnd() * U)}`,
      ts: t0 + b * 20 + i,
      data: {
        trackId: `t${track}`,
        artistId: `a${track % 500}`,
        durationMs: 200_000,
        playedMs: Math.floor(rnd() * 200_000),
      },
    });
  }
  await app.streaming.accept(events, { source: 'http' });
}
await app.streaming.caughtUp(600_000);
await app.analytics.settled();
// How long the event loop is held at once while the snapshot is taken (HTTP, the gateway and
// intake wait that long): the longest gap between 5 ms ticks, and the processor's own gauge.
let lastTick = performance.now();
let maxLoopDelayMs = 0;
const ticker = setInterval(() => {
  const now = performance.now();
  maxLoopDelayMs = Math.max(maxLoopDelayMs, now - lastTick);
  lastTick = now;
}, 5);
let c = cpu();
const file = (await app.streaming.snapshotNow())!;
clearInterval(ticker);
const snapshotCpuMs = cpu() - c; // serialize + the background write (hash, syscalls)
const serializeMs = (await histogramSum(app, 'serialize')) * 1000;
const writeMs = (await histogramSum(app, 'write')) * 1000;
const bytes = statSync(join(dir, 'streaming', 'snapshots', file)).size;
const rssMB = Math.round(process.memoryUsage().rss / 2 ** 20);
const longestBlockMs =
  ((await app.metrics.registry.getSingleMetric('backbeat_streaming_snapshot_longest_block_seconds')!.get())
    .values[0]?.value ?? NaN) * 1000;
const partBytes = await gauge(app, 'backbeat_streaming_snapshot_part_bytes');
const serializeCpu = await gauge(app, 'backbeat_streaming_snapshot_part_cpu_seconds', 'serialize');
await app.close({ drain: false });
cpSync(dir, copy, { recursive: true });
rmSync(join(copy, 'streaming', 'snapshots'), { recursive: true, force: true });

let t = performance.now();
c = cpu();
const restored = await start(dir);
await restored.streaming.caughtUp(600_000);
const restartFromSnapshotMs = performance.now() - t;
const restartFromSnapshotCpuMs = cpu() - c;
const restoreMs = (await histogramSum(restored, 'restore')) * 1000;
const restoreCpu = await gauge(restored, 'backbeat_streaming_snapshot_part_cpu_seconds', 'restore');
await restored.close({ drain: false });
let restartFullReplayMs = NaN;
if (fullReplay) {
  t = performance.now();
  const replayed = await start(copy);
  await replayed.streaming.caughtUp(600_000);
  restartFullReplayMs = performance.now() - t;
  await replayed.close({ drain: false });
}
rmSync(dir, { recursive: true, force: true });
rmSync(copy, { recursive: true, force: true });
console.log(
  `RESULT ${JSON.stringify({
    events: N,
    users: U,
    snapshotMB: Math.round((bytes / 2 ** 20) * 10) / 10,
    serializeMs: Math.round(serializeMs),
    writeMs: Math.round(writeMs),
    maxLoopDelayMs: Math.round(maxLoopDelayMs),
    longestBlockMs: Math.round(longestBlockMs),
    restoreMs: Math.round(restoreMs),
    snapshotCpuMs: Math.round(snapshotCpuMs),
    restartFromSnapshotMs: Math.round(restartFromSnapshotMs),
    restartFromSnapshotCpuMs: Math.round(restartFromSnapshotCpuMs),
    restartFullReplayMs: Math.round(restartFullReplayMs),
    rssMB,
    parts: Object.fromEntries(
      Object.entries(partBytes).map(([part, b]) => [
        part,
        {
          MB: Math.round((b / 2 ** 20) * 100) / 100,
          serializeCpuMs: Math.round((serializeCpu[part] ?? 0) * 1000),
          restoreCpuMs: Math.round((restoreCpu[part] ?? 0) * 1000),
        },
      ]),
    ),
  })}`,
);
