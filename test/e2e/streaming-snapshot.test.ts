/**
 * Snapshots of the stream handlers' state (docs/architecture.md, "The event stream"):
 * a real App on the embedded engines is restarted on the same DATA_DIR. Proves that
 * - the state after snapshot + tail equals the state after a full replay of the same log
 *   (recommendations, listening, track stats, trending windows, analytics answers);
 * - a corrupt (a flipped byte), truncated or half-written snapshot, and a stray temp file,
 *   are detected and skipped: the previous snapshot is used, or a full replay, and the
 *   state is right either way (and the metric counts it);
 * - a GDPR erasure leaves no snapshot on disk that holds the user;
 * - a process killed with SIGKILL while writing snapshots leaves only complete files;
 * - with snapshots on, a node killed mid-ingest handles every acknowledged event once.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { App, type AppDeps } from '../../src/app.ts';
import { signHs256 } from '../../src/core/auth/index.ts';
import { loadConfig } from '../../src/core/config/index.ts';
import { ManualClock } from '../../src/core/time/index.ts';
import { SnapshotStore } from '../../src/streaming/index.ts';
import { freePort } from '../helpers/processes.ts';
import { TEST_SECRET } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const NOW = Date.UTC(2026, 2, 10, 12);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'bb-snap-'));
  dirs.push(d);
  return d;
}

const clocks = new WeakMap<App, ManualClock>();

/** An App on `dataDir` with a manual clock: two apps on equal logs asked at the same time give equal answers. */
async function startApp(dataDir: string, deps: AppDeps = {}): Promise<App> {
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    DRAIN_MS: '0',
  });
  const clock = new ManualClock(NOW);
  const app = await new App(config, {
    clock,
    ...deps,
    // Snapshots only when a test asks (snapshotNow) or on close.
    streaming: { snapshotEveryEvents: 1e9, snapshotEveryMs: 3_600_000, ...deps.streaming },
  }).start();
  clocks.set(app, clock);
  return app;
}

/** Deterministic events of `users` users over the last 3 hours: plays, skips, likes, adds, app opens. */
function events(from: number, n: number, users = 30): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (let i = from; i < from + n; i++) {
    const userId = `user-${(i * 7 + Math.floor(i / users)) % users}`;
    const track = (i * 13 + Math.floor(i / 50)) % 40;
    const trackId = `t-${track}`;
    const artistId = `a-${track % 9}`;
    const ts = NOW - 3 * 3_600_000 + i * 2_000;
    const k = i % 10;
    if (k < 6)
      out.push({
        id: `ev-${i}`,
        type: 'track.played',
        userId,
        ts,
        data: { trackId, artistId, durationMs: 200_000, playedMs: 20_000 + ((i * 37) % 180_000) },
      });
    else if (k === 6)
      out.push({
        id: `ev-${i}`,
        type: 'track.skipped',
        userId,
        ts,
        data: { trackId, artistId, positionMs: 5_000 },
      });
    else if (k === 7)
      out.push({ id: `ev-${i}`, type: 'track.liked', userId, ts, data: { trackId, artistId } });
    else if (k === 8)
      out.push({
        id: `ev-${i}`,
        type: 'playlist.track_added',
        userId,
        ts,
        data: { playlistId: 'p', trackId },
      });
    else out.push({ id: `ev-${i}`, type: 'app.opened', userId, ts, data: { platform: 'ios' } });
  }
  return out;
}

async function ingest(app: App, list: Array<Record<string, unknown>>): Promise<void> {
  for (let i = 0; i < list.length; i += 500) {
    const r = await app.streaming.accept(list.slice(i, i + 500), { source: 'http' });
    expect(r.rejected).toEqual([]);
  }
  await app.streaming.caughtUp();
  await app.analytics.settled();
}

/** Everything the handlers answer at time `at`, as plain data. */
async function answers(app: App, at = NOW + 60_000): Promise<unknown> {
  await app.streaming.caughtUp();
  await app.analytics.settled();
  clocks.get(app)!.set(at); // also past the analytics query cache
  const users = Array.from({ length: 30 }, (_, u) => `user-${u}`);
  const stats = await app.streaming.stats();
  return {
    recommendations: await Promise.all(users.map((u) => app.streaming.recommend(u, 10))),
    listening: await Promise.all(users.map((u) => app.streaming.userListening(u))),
    tracks: await Promise.all(Array.from({ length: 40 }, (_, t) => app.streaming.trackStats(`t-${t}`))),
    windows: stats.windows,
    plays: stats.plays,
    analytics: {
      trending: ['1h', '24h', '7d'].map((w) => app.analytics.trending('track', w as '1h', 20)),
      artists: app.analytics.trending('artist', '24h', 20),
      users: users.map((u) => app.analytics.export(u)),
      segments: app.analytics.segments(),
      total: app.analytics.overviewPart().events.total,
      topTracks: app.analytics.overviewPart().topTracks,
    },
    sendTime: await Promise.all(users.map((u) => app.push!.sendTimeOf(u))),
  };
}

function counter(app: App, name: string, labels: Record<string, string>): number {
  const text = app.metrics.registry.getSingleMetric(name);
  if (!text) return 0;
  const metric = text as unknown as {
    hashMap: Record<string, { value: number; labels: Record<string, string> }>;
  };
  return Object.values(metric.hashMap)
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((n, v) => n + v.value, 0);
}

const snapshotDir = (dataDir: string) => join(dataDir, 'streaming', 'snapshots');
const snapshotFiles = (dataDir: string) =>
  readdirSync(snapshotDir(dataDir))
    .filter((f) => f.endsWith('.bbsnap'))
    .sort();

/** A copy of `dataDir` without snapshots: its start replays the whole log. */
function fullReplayCopy(dataDir: string): string {
  const copy = tempDir();
  cpSync(dataDir, copy, { recursive: true });
  rmSync(snapshotDir(copy), { recursive: true, force: true });
  return copy;
}

describe('stream handler snapshots', () => {
  let dir: string;
  let reference: unknown;

  it(
    'snapshot + tail gives the same state as a full replay of the same log',
    { timeout: 120_000 },
    async () => {
      dir = tempDir();
      const a = await startApp(dir);
      try {
        await ingest(a, events(0, 3000));
        expect(await a.streaming.snapshotNow()).toMatch(/^snapshot-\d+\.bbsnap$/);
        await ingest(a, events(3000, 1500)); // the tail
        reference = await answers(a);
      } finally {
        await a.close({ drain: false });
      }
      // The clean close wrote a last snapshot; drop it so the start restores the older one + the tail.
      const files = snapshotFiles(dir);
      expect(files).toHaveLength(2);
      rmSync(join(snapshotDir(dir), files.at(-1)!));
      const replayDir = fullReplayCopy(dir);

      const b = await startApp(dir);
      const c = await startApp(replayDir);
      try {
        expect(counter(b, 'backbeat_streaming_snapshot_starts_total', { outcome: 'restored' })).toBe(1);
        expect(counter(c, 'backbeat_streaming_snapshot_starts_total', { outcome: 'full_replay' })).toBe(1);
        const restored = await answers(b);
        const replayed = await answers(c);
        expect(restored).toEqual(replayed);
        expect(restored).toEqual(reference);
        // Only the tail was replayed on b.
        expect(b.streaming.handled).toBe(1500);
        expect(c.streaming.handled).toBe(4500);
        // Both go on identically.
        await ingest(b, events(4500, 700));
        await ingest(c, events(4500, 700));
        expect(await answers(b, NOW + 120_000)).toEqual(await answers(c, NOW + 120_000));
      } finally {
        await b.close({ drain: false });
        await c.close({ drain: false });
      }
    },
  );

  it(
    'a corrupt, truncated or half-written snapshot is skipped: the previous one, then a full replay',
    { timeout: 120_000 },
    async () => {
      // dir now has b's close snapshot (newest) and the one before.
      const expected = fullReplayCopy(dir);
      const ref = await startApp(expected);
      let want: unknown;
      try {
        want = await answers(ref);
      } finally {
        await ref.close({ drain: false });
      }
      const files = snapshotFiles(dir);
      expect(files.length).toBe(2);
      const newest = join(snapshotDir(dir), files.at(-1)!);
      const older = join(snapshotDir(dir), files[0]!);
      // A flipped byte in the newest, a stray temp file and a newer half-written one.
      const bytes = readFileSync(newest);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
      writeFileSync(newest, bytes);
      const half = readFileSync(older).subarray(0, 1000);
      writeFileSync(join(snapshotDir(dir), 'snapshot-999999999998.bbsnap'), half);
      writeFileSync(join(snapshotDir(dir), 'snapshot-999999999999.bbsnap.tmp'), 'partial');

      const d = await startApp(dir);
      try {
        expect(counter(d, 'backbeat_streaming_snapshot_invalid_total', { reason: 'checksum' })).toBe(1);
        expect(counter(d, 'backbeat_streaming_snapshot_invalid_total', { reason: 'truncated' })).toBe(1);
        expect(counter(d, 'backbeat_streaming_snapshot_starts_total', { outcome: 'restored' })).toBe(1);
        expect(readdirSync(snapshotDir(dir)).some((f) => f.endsWith('.tmp'))).toBe(false);
        expect(await answers(d)).toEqual(want);
      } finally {
        await d.close({ drain: false });
      }

      // Every snapshot unusable (truncated, flipped): a full replay, still the right state.
      for (const f of snapshotFiles(dir)) {
        const p = join(snapshotDir(dir), f);
        truncateSync(p, Math.floor(readFileSync(p).length * 0.7));
      }
      const e = await startApp(dir);
      try {
        expect(counter(e, 'backbeat_streaming_snapshot_starts_total', { outcome: 'full_replay' })).toBe(1);
        expect(await answers(e)).toEqual(want);
      } finally {
        await e.close({ drain: false });
      }
    },
  );

  it('a GDPR erasure leaves no snapshot on disk that holds the user', { timeout: 120_000 }, async () => {
    const d = tempDir();
    const app = await startApp(d);
    const victim = 'user-victim-7c1e';
    try {
      await ingest(app, [
        ...events(0, 800),
        ...Array.from({ length: 20 }, (_, i) => ({
          id: `v-${i}`,
          type: 'track.played',
          userId: victim,
          ts: NOW - 3_600_000 + i * 1000,
          data: { trackId: `secret-${i % 3}`, artistId: 'a-1', durationMs: 100_000, playedMs: 90_000 },
        })),
      ]);
      await app.streaming.snapshotNow();
      await ingest(app, events(800, 100));
      await app.streaming.snapshotNow();
      const holding = () =>
        snapshotFiles(d).filter((f) => readFileSync(join(snapshotDir(d), f)).includes(victim));
      expect(holding()).toHaveLength(2);
      const { receiptId } = await app.gdpr!.erase(victim);
      await until(async () => (await app.gdpr!.erasure(receiptId))?.status === 'done', 'erasure done');
      expect(snapshotFiles(d).length).toBeGreaterThanOrEqual(1);
      expect(holding()).toEqual([]);
      expect((await app.streaming.userListening(victim)).plays).toBe(0);
    } finally {
      await app.close({ drain: false });
    }
    // The restart restores a snapshot without the user.
    const again = await startApp(d);
    try {
      expect(counter(again, 'backbeat_streaming_snapshot_starts_total', { outcome: 'restored' })).toBe(1);
      expect((await again.streaming.userListening(victim)).plays).toBe(0);
      expect(again.analytics.user(victim)).toBeUndefined();
      expect((await again.streaming.userListening('user-1')).plays).toBeGreaterThan(0);
    } finally {
      await again.close({ drain: false });
    }
  });

  it(
    'SIGKILL while snapshots are being written leaves only complete, verifiable files',
    { timeout: 60_000 },
    async () => {
      const d = tempDir();
      const child = spawn(join(ROOT, 'node_modules/.bin/node'), ['test/helpers/snapshot-writer.ts', d], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      const exited = new Promise((r) => child.once('exit', r));
      await until(() => (out.match(/^WROTE /gm) ?? []).length >= 3, 'three snapshots written', 30_000);
      child.kill('SIGKILL');
      await exited;
      const acked = Math.max(...[...out.matchAll(/^WROTE (\d+)$/gm)].map((m) => Number(m[1])));
      const store = new SnapshotStore(d);
      expect(readdirSync(d).some((f) => f.endsWith('.tmp'))).toBe(false);
      const files = store.files();
      expect(files.length).toBeGreaterThanOrEqual(1);
      for (const f of files) {
        const { header, state } = store.read(f); // throws on a torn file
        expect((state['handlers'] as { n: number }).n).toBe(header.handled);
      }
      // The newest durable one (acknowledged) or a newer one is there.
      expect(store.read(files[0]!).header.handled).toBeGreaterThanOrEqual(acked);
    },
  );

  it(
    'with snapshots every 500 events, kill -9 mid-ingest still handles every acknowledged event once',
    { timeout: 120_000 },
    async () => {
      const d = tempDir();
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      let output = '';
      const startNode = async () => {
        const child = spawn(join(ROOT, 'node_modules/.bin/node'), ['test/helpers/snapshot-node.ts'], {
          cwd: ROOT,
          env: {
            ...process.env,
            HOST: '127.0.0.1',
            PORT: String(port),
            DATA_DIR: d,
            JWT_SECRET: TEST_SECRET,
            LOG_LEVEL: 'warn',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child.stdout.on('data', (b: Buffer) => (output += b.toString()));
        child.stderr.on('data', (b: Buffer) => (output += b.toString()));
        await until(async () => {
          if (child.exitCode !== null) throw new Error(`node exited: ${output.slice(-500)}`);
          return (await fetch(`${url}/readyz`).catch(() => undefined))?.ok === true;
        }, 'node ready');
        return child;
      };
      const token = await signHs256(TEST_SECRET, { sub: 'svc', scope: 'admin' }, 3600);
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      let child = await startNode();
      let acked = 0;
      const t0 = Date.now() - 3_600_000;
      const sending = (async () => {
        for (let b = 0; b < 2000; b++) {
          const batch = Array.from({ length: 50 }, (_, i) => ({
            type: 'track.played',
            userId: `listener-${(b * 50 + i) % 97}`,
            ts: t0 + b,
            data: { trackId: 'snap-track', artistId: 'artist-x', durationMs: 100_000, playedMs: 90_000 },
          }));
          try {
            const res = await fetch(`${url}/v1/events`, {
              method: 'POST',
              headers,
              body: JSON.stringify(batch),
            });
            if (res.status !== 202) {
              output += `POST ${res.status}: ${await res.text()}\n`;
              break;
            }
            acked += ((await res.json()) as { accepted: number }).accepted;
          } catch {
            break;
          }
        }
      })();
      await until(() => acked >= 5000, '5000 events acknowledged', 90_000).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; acked ${acked}; ${output.slice(-1500)}`);
      });
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      await sending;
      expect(readdirSync(snapshotDir(d)).filter((f) => f.endsWith('.bbsnap')).length).toBeGreaterThanOrEqual(
        1,
      );

      child = await startNode();
      try {
        const plays = async () =>
          (
            (await (await fetch(`${url}/v1/tracks/snap-track/stats`, { headers })).json()) as {
              plays: number;
            }
          ).plays;
        await until(
          async () => (await plays()) >= acked,
          'every acknowledged play handled after the restart',
        );
        const stats = (await (await fetch(`${url}/v1/events/stats`, { headers })).json()) as {
          log: { heads: Record<string, number> };
        };
        // Exactly the events in the log: each acknowledged one (and at most the last, unacknowledged batch) once.
        expect(await plays()).toBe(stats.log.heads['0']);
        expect(await plays()).toBeGreaterThanOrEqual(acked);
        expect(await plays()).toBeLessThanOrEqual(acked + 50);
        const metrics = await (await fetch(`${url}/metrics`)).text();
        expect(metrics).toMatch(/backbeat_streaming_snapshot_starts_total\{outcome="restored"\} 1/);
      } finally {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await gone;
      }
    },
  );
});
