/**
 * Restart of a node holding a large retained log (issue #11: "10M retained events: ready
 * in < 5 s"). Fills the embedded SQLite log with N events straight into its table (the
 * exact rows `SqliteEventLog.append` writes: id, key = userId, ts, body = the normalized
 * event's JSON; big transactions, no fsync per batch): U users in listening sessions
 * (3 min apart, 5–40 tracks), tracks Zipf-distributed over 200,000 (half from the user's
 * taste block of 1,000), 80 % plays, 12 % skips, 6 % likes, 2 % playlist adds, spread over
 * the last 6 days. Then starts the App on that DATA_DIR, lets it handle everything, writes
 * a snapshot, appends a TAIL (10,000 events, through the intake: paused, so the snapshot
 * does not hold them), closes, and measures in fresh child processes (`--expose-gc`):
 *
 * - from the snapshot: process start → `/healthz` 200, → `GET /v1/users/<u>/recommendations`
 *   answering with item-knn items, → caught up (the tail replayed). `readyMs` is the last
 *   of the three (the process's own clock, from its start, so it includes Node's start-up);
 *   `/readyz` is not used: it reports the engines' health, not whether the handlers caught
 *   up, and is 200 as soon as the HTTP listener is (after the restore, before the tail).
 *   /healthz is liveness only: 200 as soon as HTTP listens, which is after the restore.
 * - with snapshots off (STREAM_SNAPSHOTS=false): the full replay it replaces, until caught
 *   up — or, when that would pass REPLAY_BUDGET_MS (default 240 s), the handled prefix after
 *   that long, extrapolated linearly (`fullReplayExtrapolated: true`).
 * - RSS when caught up (before and after a full GC), snapshot bytes, per-part bytes and
 *   serialize / restore CPU (`backbeat_streaming_snapshot_part_*` gauges).
 * When the full replay ran to the end, the recommendations of a few users after snapshot +
 * tail and after the full replay are compared (`sameRecommendations`).
 *
 * Prints `RESULT {…}`. Usage: node bench/streaming/restart.ts [N=1000000] [U=100000] [TAIL=10000]
 * (env REPLAY_BUDGET_MS; KEEP_DIR=1 keeps the data dir and prints it; BENCH_STREAM_WORKER=false
 * runs every handler in the main thread, as STREAM_WORKER=false).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { App } from '../../src/app.ts';
import { signHs256 } from '../../src/core/auth/index.ts';
import { loadConfig } from '../../src/core/config/index.ts';
import { mulberry32 } from '../../src/core/random/index.ts';
import { SqliteEventLog } from '../../src/streaming/log/sqlite-log.ts';

const SECRET = 'bench-secret-0123456789abcdef0123456789';
/** Users whose recommendations are read (set from the log's last events: users the snapshot knows). */
let SAMPLE_USERS: string[] = [];
const TRACKS = 200_000;
const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;

const config = (dataDir: string, snapshots: boolean) =>
  loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    JWT_SECRET: SECRET,
    LOG_LEVEL: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
    STREAM_SNAPSHOTS: snapshots ? 'true' : 'false',
    // BENCH_STREAM_WORKER=false: every handler in the main thread (STREAM_WORKER=false).
    ...(process.env['BENCH_STREAM_WORKER'] ? { STREAM_WORKER: process.env['BENCH_STREAM_WORKER'] } : {}),
  });
const tuning = { streaming: { snapshotEveryEvents: 1e12, snapshotEveryMs: 3_600_000 } };

/**
 * A `backbeat_streaming_snapshot_part_*` gauge from /metrics, by part: the main thread's
 * processor and, with the stream worker (STREAM_WORKER), the worker's (`processor="handlers"`:
 * plays, recommendations, trending), whose series the main thread's /metrics merges.
 */
const gauge = async (app: App, name: string, phase?: string) => {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (phase !== undefined && labels['phase'] !== phase) continue;
    const part =
      labels['processor'] === 'handlers' && labels['part'] === 'processor' ? 'worker' : labels['part']!;
    out[part] = Number(m[2]);
  }
  return out;
};
/** Snapshot files under the snapshot directory (the main thread's, and the worker's in `handlers/`). */
const snapshotFiles = (snapDir: string) =>
  [snapDir, join(snapDir, 'handlers')].flatMap((d) =>
    existsSync(d)
      ? readdirSync(d)
          .filter((f) => f.endsWith('.bbsnap'))
          .map((f) => join(d, f))
      : [],
  );

if (process.argv[2] === '--child') {
  SAMPLE_USERS = process.argv[5]!.split(',');
  await child(process.argv[3]!, process.argv[4] === 'snapshot');
} else await parent();

/** One restart, in this fresh process; prints `CHILD {…}`. */
async function child(dir: string, snapshots: boolean): Promise<void> {
  const budgetMs = Number(process.env['REPLAY_BUDGET_MS'] ?? 240_000);
  const c0 = cpuMs();
  const app = new App(config(dir, snapshots), tuning);
  if (!snapshots) {
    // A start may itself replay (part of) the log before it resolves: the budget runs from
    // the process start, and when it is spent the handled prefix is reported as it is.
    setTimeout(() => {
      console.log(
        `CHILD ${JSON.stringify({
          startedMs: 0,
          caughtUpMs: Math.round(performance.now()),
          caughtUp: false,
          handled: app.streaming.handled,
          cpuMs: Math.round(cpuMs() - c0),
          rssMB: mb(process.memoryUsage().rss),
          restoreCpuMs: {},
          lists: {},
        })}`,
      );
      process.exit(0);
    }, budgetMs).unref();
  }
  await app.start();
  const startedMs = performance.now();
  const tokens = new Map<string, string>();
  for (const u of SAMPLE_USERS) tokens.set(u, await signHs256(SECRET, { sub: u }, 3600));
  const recs = async (u: string) => {
    const res = await fetch(`${app.url}/v1/users/${u}/recommendations?limit=10`, {
      headers: { authorization: `Bearer ${tokens.get(u)!}` },
    });
    if (res.status !== 200) return undefined;
    return (await res.json()) as { model: string; items: Array<{ trackId: string }> };
  };
  // Each wait gives up after 10 minutes (NaN in the result) rather than hanging the benchmark.
  const giveUp = Date.now() + 600_000;
  let healthzMs = NaN;
  while (Number.isNaN(healthzMs) && Date.now() < giveUp) {
    const res = await fetch(`${app.url}/healthz`).catch(() => undefined);
    if (res?.status === 200) healthzMs = performance.now();
    else await new Promise((r) => setTimeout(r, 5));
  }
  let recommendationsMs = NaN;
  while (Number.isNaN(recommendationsMs) && Date.now() < giveUp) {
    const r = await recs(SAMPLE_USERS[0]!);
    if (r && r.model === 'item-knn' && r.items.length > 0) recommendationsMs = performance.now();
    else await new Promise((res) => setTimeout(res, 5));
  }
  let caughtUp = true;
  if (snapshots) await app.streaming.caughtUp(600_000);
  else {
    const deadline = Date.now() + budgetMs - performance.now();
    caughtUp = false;
    while (!caughtUp && Date.now() < deadline) {
      caughtUp = await app.streaming.caughtUp(1000).then(
        () => true,
        () => false,
      );
    }
  }
  const caughtUpMs = performance.now();
  const handled = app.streaming.handled;
  const lag = app.streaming.lag();
  const cpu = cpuMs() - c0;
  const rss = process.memoryUsage().rss;
  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  const lists: Record<string, string[]> = {};
  for (const u of SAMPLE_USERS) lists[u] = (await recs(u))?.items.map((i) => i.trackId) ?? [];
  const restoreCpu = await gauge(app, 'backbeat_streaming_snapshot_part_cpu_seconds', 'restore');
  await app.close({ drain: false });
  console.log(
    `CHILD ${JSON.stringify({
      startedMs: Math.round(startedMs),
      healthzMs: Math.round(healthzMs),
      recommendationsMs: Math.round(recommendationsMs),
      caughtUpMs: Math.round(caughtUpMs),
      readyMs: Math.round(Math.max(healthzMs, recommendationsMs, caughtUpMs)),
      caughtUp,
      handled,
      lag,
      cpuMs: Math.round(cpu),
      rssMB: mb(rss),
      rssAfterGcMB: mb(mem.rss),
      heapUsedMB: mb(mem.heapUsed),
      arrayBuffersMB: mb(mem.arrayBuffers),
      restoreCpuMs: Object.fromEntries(Object.entries(restoreCpu).map(([p, s]) => [p, Math.round(s * 1000)])),
      lists,
    })}`,
  );
  process.exit(0);
}

function runChild(dir: string, mode: 'snapshot' | 'replay'): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // The parent's flags too (e.g. --max-old-space-size for 10M events in one process).
    const args = [
      ...process.execArgv,
      '--expose-gc',
      import.meta.filename,
      '--child',
      dir,
      mode,
      SAMPLE_USERS.join(','),
    ];
    const p = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.once('exit', (code) => {
      const m = /CHILD (.*)/.exec(out);
      if (m)
        resolve({
          ...(JSON.parse(m[1]!) as Record<string, unknown>),
          wallMs: Math.round(performance.now() - started),
        });
      else reject(new Error(`restart child (${mode}) exited ${code}: ${out.slice(-500)}`));
    });
  });
}

/** Writes N events straight into the log's table, in the rows `SqliteEventLog.append` writes. */
async function fill(dir: string, n: number, users: number, t0: number, spanMs: number): Promise<void> {
  mkdirSync(join(dir, 'streaming'), { recursive: true });
  const path = join(dir, 'streaming', 'events.db');
  await new SqliteEventLog(path).close(); // the schema, pragmas and user_version of a new log
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;');
  const insert = db.prepare('INSERT INTO events (id, key, ts, body) VALUES (?, ?, ?, ?)');
  const rnd = mulberry32(42);
  const zipf = (k: number) => Math.floor(Math.exp(rnd() * Math.log(k + 1))) - 1;
  // Concurrent listening sessions; each event goes to a random one at the current time.
  const live = 3000;
  const sessions: Array<{ user: number; left: number }> = [];
  const newSession = () => ({ user: Math.floor(rnd() * users), left: 5 + Math.floor(rnd() * 36) });
  for (let i = 0; i < live; i++) sessions.push(newSession());
  const step = spanMs / n;
  const TX = 100_000;
  for (let from = 0; from < n; from += TX) {
    db.exec('BEGIN');
    for (let k = from; k < Math.min(n, from + TX); k++) {
      const s = Math.floor(rnd() * live);
      const sess = sessions[s]!;
      if (--sess.left <= 0) sessions[s] = newSession();
      const userId = `u${sess.user}`;
      const track = rnd() < 0.5 ? zipf(TRACKS) : (sess.user % 200) * 1000 + zipf(1000);
      const trackId = `t${track}`;
      const artistId = `a${track % 20_000}`;
      const ts = Math.floor(t0 + k * step);
      const r = rnd();
      let type: string;
      let data: Record<string, unknown>;
      if (r < 0.8) {
        type = 'track.played';
        data = {
          trackId,
          artistId,
          durationMs: 200_000,
          playedMs: Math.floor(200_000 * (0.3 + 0.7 * rnd())),
        };
      } else if (r < 0.92) {
        type = 'track.skipped';
        data = { trackId, artistId, positionMs: Math.floor(30_000 * rnd()) };
      } else if (r < 0.98) {
        type = 'track.liked';
        data = { trackId, artistId };
      } else {
        type = 'playlist.track_added';
        data = { playlistId: `p${sess.user % 5000}`, trackId };
      }
      const id = randomUUID();
      const event = { id, type, v: 1, userId, ts, receivedAt: ts + 50, data, trace: {} };
      insert.run(id, userId, ts, JSON.stringify(event));
    }
    db.exec('COMMIT');
  }
  // Sample users: the last few sessions' (known to the snapshot, with a profile to recommend from).
  const longest = [...sessions].sort((a, b) => a.left - b.left);
  SAMPLE_USERS = [...new Set(longest.map((x) => `u${x.user}`))].slice(0, 5);
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
}

async function parent(): Promise<void> {
  const N = Number(process.argv[2] ?? 1_000_000);
  const U = Number(process.argv[3] ?? 100_000);
  const TAIL = Number(process.argv[4] ?? 10_000);
  const dir = mkdtempSync(join(tmpdir(), 'bb-restart-'));
  const now = Date.now();
  // Six days of event time ending an hour ago (inside the default 7-day retention).
  const span = 6 * 86_400_000;
  const t0 = now - 3_600_000 - span;
  let t = performance.now();
  await fill(dir, N, U, t0, span);
  const fillMs = performance.now() - t;
  const logBytes = statSync(join(dir, 'streaming', 'events.db')).size;
  console.error(`restart bench: ${N} events written in ${Math.round(fillMs)} ms (${mb(logBytes)} MB)`);

  t = performance.now();
  let c = cpuMs();
  const app = await new App(config(dir, true), tuning).start();
  await app.streaming.caughtUp(3_600_000);
  await app.analytics.settled();
  const firstPassMs = performance.now() - t;
  const firstPassCpuMs = cpuMs() - c;
  // Everything handled (the state of N events): this process's RSS, the log's writer included.
  const rssFirstPass = process.memoryUsage().rss;
  console.error(`restart bench: handled in ${Math.round(firstPassMs)} ms; snapshotting`);
  c = cpuMs();
  t = performance.now();
  await app.streaming.snapshotNow();
  const snapshotMs = performance.now() - t;
  const snapshotCpuMs = cpuMs() - c;
  const snapDir = join(dir, 'streaming', 'snapshots');
  const files = snapshotFiles(snapDir);
  const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
  const partBytes = await gauge(app, 'backbeat_streaming_snapshot_part_bytes');
  const serializeCpu = await gauge(app, 'backbeat_streaming_snapshot_part_cpu_seconds', 'serialize');
  // The tail: appended, not handled (so no snapshot at close holds it).
  await app.streaming.pauseProcessing();
  const rnd = mulberry32(7);
  for (let b = 0; b < TAIL / 1000; b++) {
    const events = [];
    for (let i = 0; i < 1000; i++) {
      const track = Math.floor(Math.exp(rnd() * Math.log(TRACKS + 1))) - 1;
      events.push({
        type: 'track.played',
        userId: `u${Math.floor(rnd() * U)}`,
        ts: now - 3_600_000 + b * 1000 + i,
        data: {
          trackId: `t${track}`,
          artistId: `a${track % 20_000}`,
          durationMs: 200_000,
          playedMs: 150_000,
        },
      });
    }
    await app.streaming.accept(events, { source: 'http' });
  }
  await app.close({ drain: false });
  if (snapshotFiles(snapDir).length !== files.length)
    throw new Error('expected no snapshot after the first (the tail must not be in one)');

  console.error('restart bench: restart from the snapshot');
  const fromSnapshot = await runChild(dir, 'snapshot');
  console.error(`restart bench: ${JSON.stringify(fromSnapshot)}`);
  console.error('restart bench: restart with a full replay');
  const replay = await runChild(dir, 'replay');
  console.error(`restart bench: ${JSON.stringify({ ...replay, lists: undefined })}`);
  const total = N + TAIL;
  const replayHandled = replay['handled'] as number;
  const replayMs = replay['caughtUpMs'] as number;
  const replayStart = replay['startedMs'] as number;
  const fullReplayMs = replay['caughtUp']
    ? replayMs
    : Math.round(replayStart + ((replayMs - replayStart) * total) / Math.max(1, replayHandled));
  const same = replay['caughtUp']
    ? JSON.stringify(fromSnapshot['lists']) === JSON.stringify(replay['lists'])
    : null;
  if (process.env['KEEP_DIR']) console.error(`restart bench: data kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  console.log(
    `RESULT ${JSON.stringify({
      events: N,
      users: U,
      tail: TAIL,
      streamWorker: process.env['BENCH_STREAM_WORKER'] !== 'false',
      logMB: mb(logBytes),
      fillMs: Math.round(fillMs),
      firstPassMs: Math.round(firstPassMs),
      firstPassCpuMs: Math.round(firstPassCpuMs),
      snapshotMB: mb(bytes),
      snapshotMs: Math.round(snapshotMs),
      snapshotCpuMs: Math.round(snapshotCpuMs),
      readyFromSnapshotMs: fromSnapshot['readyMs'],
      healthzFromSnapshotMs: fromSnapshot['healthzMs'],
      recommendationsFromSnapshotMs: fromSnapshot['recommendationsMs'],
      caughtUpFromSnapshotMs: fromSnapshot['caughtUpMs'],
      restartFromSnapshotCpuMs: fromSnapshot['cpuMs'],
      restartFullReplayMs: fullReplayMs,
      fullReplayExtrapolated: !replay['caughtUp'],
      fullReplayHandled: replayHandled,
      fullReplayCpuMs: replay['cpuMs'],
      rssFirstPassMB: mb(rssFirstPass),
      rssFromSnapshotMB: fromSnapshot['rssMB'],
      rssFromSnapshotAfterGcMB: fromSnapshot['rssAfterGcMB'],
      rssFullReplayMB: replay['rssMB'],
      rssFullReplayAfterGcMB: replay['rssAfterGcMB'],
      sameRecommendations: same,
      parts: Object.fromEntries(
        Object.entries(partBytes).map(([part, b]) => [
          part,
          {
            MB: mb(b),
            serializeCpuMs: Math.round((serializeCpu[part] ?? 0) * 1000),
            restoreCpuMs: (fromSnapshot['restoreCpuMs'] as Record<string, number>)[part] ?? null,
          },
        ]),
      ),
    })}`,
  );
  process.exit(0);
}
