/**
 * The built-in stream handlers in a worker thread (STREAM_WORKER=true; `auto`, the default, from 4 cores;
 * docs/architecture.md, "The stream worker"), end to end over HTTP on the embedded engines:
 * - events posted over HTTP are handled in the worker and its answers are served
 *   (track stats, listening, recommendations, windows), and /metrics shows its metrics
 *   merged into one family each;
 * - the worker killed mid-stream (process.exit, then an uncaught error) is detected,
 *   counted and restarted from its snapshot, and after catch-up every 202-acknowledged
 *   play is counted exactly once;
 * - a GDPR erasure reaches the worker's state and its snapshots;
 * - a built-in handler's failure dead-letters into the main thread's DLQ and replays;
 * - the same workload gives the same answers with STREAM_WORKER=false and =true;
 * - close ends the thread (the leak check of test/setup/leaks.ts runs after this file).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON read off the wire
type Json = Record<string, any>;

const NOW = Date.now();
const play = (userId: string, trackId: string, i = 0, extra: Record<string, unknown> = {}) => ({
  type: 'track.played',
  userId,
  ts: NOW - 3_600_000 + i * 1000,
  data: { trackId, artistId: `artist-${trackId}`, durationMs: 200_000, playedMs: 190_000 },
  ...extra,
});

async function post(srv: TestServer, body: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${srv.url}/v1/events`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await srv.token({ sub: 'svc', scope: 'admin' })}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

async function get(srv: TestServer, path: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${srv.url}${path}`, {
    headers: { authorization: `Bearer ${await srv.token({ sub: 'ops', scope: 'admin' })}` },
  });
  return { status: res.status, body: (await res.json()) as Json };
}

const metricsText = async (srv: TestServer) => (await fetch(`${srv.url}/metrics`)).text();

/** The value of one series in Prometheus text (0 when absent). */
function series(text: string, line: string): number {
  const m = text.split('\n').find((l) => l.startsWith(`${line} `));
  return m ? Number(m.slice(line.length + 1)) : 0;
}

describe('stream worker', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer(
      {
        STREAM_WORKER: 'true',
        RECOMMENDATION_PUSH_DEBOUNCE_MS: '50',
        EVENT_RETRY_BASE_MS: '1',
        EVENT_RETRY_MAX_MS: '5',
      },
      // A worker silent for 4 s is taken as hung (the heartbeat test; 30 s by default).
      { streaming: { workerTestHooks: true, workerHangMs: 4000 } },
    );
  });
  afterAll(async () => {
    const worker = srv.app.streaming.worker;
    await srv.close();
    // Closed: the thread is gone, not restarted.
    expect(worker?.up).toBe(false);
  });

  it('runs the built-in handlers in the worker and answers from there', async () => {
    expect(srv.app.streaming.worker?.up).toBe(true);
    const seq = ['w-a', 'w-b', 'w-c'];
    for (const u of ['w-1', 'w-2'])
      expect(
        (
          await post(
            srv,
            seq.map((t, i) => play(u, t, i)),
          )
        ).status,
      ).toBe(202);
    expect(
      (await post(srv, [play('w-3', 'w-a', 10), { ...play('w-3', 'w-b', 11), type: 'track.liked' }])).status,
    ).toBe(202);
    await srv.app.streaming.caughtUp();
    expect((await get(srv, '/v1/tracks/w-a/stats')).body).toMatchObject({
      trackId: 'w-a',
      plays: 3,
      completes: 3,
    });
    expect((await get(srv, '/v1/users/w-3/listening')).body).toMatchObject({
      user: 'w-3',
      plays: 1,
      likes: 1,
    });
    const recs = (await get(srv, '/v1/users/w-3/recommendations?limit=5')).body;
    expect(recs['model']).toBe('item-knn');
    expect((recs['items'] as Array<{ trackId: string }>).map((i) => i.trackId)).toContain('w-c');
    const stats = (await get(srv, '/v1/events/stats')).body;
    expect(stats['plays']).toMatchObject({ tracks: 3, users: 3 });
    expect(stats['processor']['handled']).toBeGreaterThanOrEqual(7);
    expect(srv.app.streaming.lag()).toBe(0);
  });

  it('pushes recommendations from the worker only to users someone is subscribed to', async () => {
    const listener = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'w-9' }));
    await listener.request({ type: 'subscribe', channel: 'user:w-9' });
    expect((await post(srv, [play('w-9', 'w-p', 20), play('w-8', 'w-p', 21)])).status).toBe(202);
    const push = await listener.waitFor(
      (f) => f.type === 'message' && f['channel'] === 'user:w-9',
      5000,
      'recommendation push',
    );
    expect(push['data']).toMatchObject({ kind: 'recommendations' });
    await listener.close();
    // w-8 has no subscriber: the worker asked the main thread, which said no.
    const noListener = (text: string) =>
      Number(
        /backbeat_streaming_recommendation_pushes_total\{outcome="no_listener"[^}]*\} (\d+)/.exec(
          text,
        )?.[1] ?? 0,
      );
    let counted = 0;
    await until(
      async () => (counted = noListener(await metricsText(srv))) >= 1,
      'a push counted no_listener',
      5000,
    );
    expect(counted).toBeGreaterThanOrEqual(1);
  });

  it('/metrics merges the worker metrics: one family each, its handler series as in-process', async () => {
    const text = await metricsText(srv);
    expect(
      series(text, 'backbeat_streaming_events_processed_total{handler="plays",outcome="ok"}'),
    ).toBeGreaterThanOrEqual(7);
    expect(series(text, 'backbeat_streaming_plays_total{outcome="complete"}')).toBeGreaterThanOrEqual(7);
    expect(text).toContain('backbeat_streaming_recommendation_update_seconds_bucket');
    expect(text).toContain(
      'backbeat_streaming_snapshot_starts_total{outcome="full_replay",processor="handlers"} 1',
    );
    expect(text).toContain('# TYPE backbeat_streaming_worker_restarts_total counter');
    // The extra handlers (analytics, push events) still run on the main thread's processor.
    expect(
      series(text, 'backbeat_streaming_events_processed_total{handler="analytics",outcome="ok"}'),
    ).toBeGreaterThanOrEqual(7);
    const types = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
    expect(types.length).toBe(new Set(types).size);
  });

  it(
    'a crashed worker is restarted from its snapshot; every acknowledged play counts exactly once',
    { timeout: 120_000 },
    async () => {
      const streaming = srv.app.streaming;
      const worker = streaming.worker!;
      let acked = 0;
      let sent = 0;
      let stop = false;
      let boom = false;
      const sending = (async () => {
        for (let b = 0; !stop && b < 400; b++) {
          const batch = Array.from({ length: 25 }, (_, i) =>
            play(`crash-${(b * 25 + i) % 31}`, 'crash-track', b),
          );
          // Once asked: a play in the middle of a batch on which the worker dies.
          if (boom) {
            boom = false;
            batch.splice(12, 0, play('crash-0', 'boom-track', b));
            acked--; // not a crash-track play
          }
          sent++;
          const res = await post(srv, batch);
          expect(res.status).toBe(202);
          acked += res.body['accepted'] as number;
          expect(res.body['duplicates']).toBe(0);
        }
      })();
      await until(() => acked >= 1000, '1000 plays acknowledged', 30_000);
      expect(await streaming.snapshotNow()).toMatch(/\.bbsnap$/);
      await until(() => acked >= 1500, 'more plays after the snapshot', 30_000);
      await worker.crashForTest('exit');
      await until(() => !worker.up, 'worker exit detected', 10_000);
      // Intake does not wait on the handlers: it keeps accepting while the worker restarts.
      const during = sent;
      await until(() => sent > during + 2, 'intake goes on while the worker is down', 10_000);
      await until(() => worker.up, 'worker restarted', 20_000);
      await until(() => acked >= 2500, 'more plays after the restart', 30_000);
      await worker.crashForTest('throw');
      await until(() => !worker.up, 'second crash detected', 10_000);
      await until(() => worker.up, 'worker restarted again', 20_000);
      await until(() => acked >= 3000, 'more plays after the second restart', 30_000);
      // Third: the worker exits in the middle of a batch (half of it applied in its memory, none acknowledged).
      await worker.faultForTest('plays', 'boom-', true);
      boom = true;
      await until(() => !worker.up, 'mid-batch exit detected', 10_000);
      await until(() => worker.up, 'worker restarted a third time', 20_000);
      await until(() => acked >= 3500, 'more plays after the third restart', 30_000);
      stop = true;
      await sending;
      await streaming.caughtUp(60_000);
      expect((await streaming.trackStats('crash-track')).plays).toBe(acked);
      expect((await streaming.trackStats('boom-track')).plays).toBe(1);
      const text = await metricsText(srv);
      expect(series(text, 'backbeat_streaming_worker_restarts_total')).toBe(3);
      // The last restart restored the snapshot the previous worker wrote and replayed only its tail.
      expect(text).toContain(
        'backbeat_streaming_snapshot_starts_total{outcome="restored",processor="handlers"} 1',
      );
      expect(streaming.handled).toBeLessThan(acked);
      // The listeners' counts add up too (nothing lost or counted twice per user).
      let perUser = 0;
      for (let u = 0; u < 31; u++) perUser += (await streaming.userListening(`crash-${u}`)).plays;
      expect(perUser).toBe(acked + 1);
    },
  );

  it('queries fail with 503 while the worker restarts, then answer again', { timeout: 60_000 }, async () => {
    const worker = srv.app.streaming.worker!;
    await worker.crashForTest('exit');
    await until(() => !worker.up, 'exit detected', 10_000);
    // A new worker takes a while to load and restore: meanwhile queries get a clear 503.
    const down = await get(srv, '/v1/tracks/crash-track/stats');
    expect(down.status).toBe(503);
    expect(down.body['error']['code']).toBe('unavailable');
    await until(() => worker.up, 'worker restarted', 20_000);
    await srv.app.streaming.caughtUp();
    expect((await get(srv, '/v1/tracks/w-a/stats')).body['plays']).toBe(3);
  });

  it('a GDPR erasure reaches the worker state and its snapshots', { timeout: 60_000 }, async () => {
    const victim = 'victim-5e2a9';
    expect(
      (
        await post(
          srv,
          Array.from({ length: 5 }, (_, i) => play(victim, `secret-${i}`, i)),
        )
      ).status,
    ).toBe(202);
    await srv.app.streaming.caughtUp();
    expect((await srv.app.streaming.userListening(victim)).plays).toBe(5);
    await srv.app.streaming.snapshotNow();
    const dir = join(srv.app.config.dataDir, 'streaming', 'snapshots', 'handlers');
    const holding = () =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.bbsnap'))
        .filter((f) => readFileSync(join(dir, f)).includes(victim));
    expect(holding().length).toBeGreaterThan(0);
    const { receiptId } = await srv.app.gdpr!.erase(victim);
    await until(async () => (await srv.app.gdpr!.erasure(receiptId))?.status === 'done', 'erasure done');
    expect((await srv.app.streaming.userListening(victim)).plays).toBe(0);
    const exported = await srv.app.streaming.exportUser(victim);
    expect(exported).toMatchObject({
      events: [],
      listening: null,
      sessions: [],
      recommendations: { known: false },
    });
    expect(holding()).toEqual([]);
  });

  it(
    "a built-in handler's dead letter lands in the main DLQ and replays through the worker",
    { timeout: 60_000 },
    async () => {
      const worker = srv.app.streaming.worker!;
      await worker.faultForTest('plays', 'poison');
      const res = await post(srv, [play('dl-1', 'poison-w'), play('dl-1', 'healthy-w')]);
      const [poisonId] = res.body['ids'] as string[];
      await srv.app.streaming.caughtUp();
      expect((await srv.app.streaming.trackStats('healthy-w')).plays).toBe(1);
      expect((await srv.app.streaming.trackStats('poison-w')).plays).toBe(0);
      const dlq = await get(srv, '/v1/events/dlq');
      const entry = (dlq.body['items'] as Json[]).find((d) => d['eventId'] === poisonId);
      expect(entry).toMatchObject({
        handler: 'plays',
        attempts: 1,
        error: { code: 'bad_request', retriable: false },
      });
      expect(series(await metricsText(srv), 'backbeat_streaming_dead_letters')).toBe(1);
      const replay = async () =>
        (await (
          await fetch(`${srv.url}/v1/events/dlq/replay`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${await srv.token({ sub: 'ops', scope: 'admin' })}`,
              'content-type': 'application/json',
            },
            body: JSON.stringify({ ids: [entry!['id']] }),
          })
        ).json()) as Json;
      expect(await replay()).toMatchObject({ replayed: 1, succeeded: [], failed: [{ id: entry!['id'] }] });
      expect((await get(srv, '/v1/events/dlq')).body['total']).toBe(1);
      await worker.faultForTest('plays', null); // "fixed"
      expect(await replay()).toMatchObject({ replayed: 1, succeeded: [entry!['id']], failed: [] });
      expect((await srv.app.streaming.trackStats('poison-w')).plays).toBe(1);
      expect((await get(srv, '/v1/events/dlq')).body['total']).toBe(0);
    },
  );

  it(
    'a worker that stops answering is terminated and restarted; nothing acknowledged is lost',
    { timeout: 60_000 },
    async () => {
      const worker = srv.app.streaming.worker!;
      const restarts = series(await metricsText(srv), 'backbeat_streaming_worker_restarts_total');
      await worker.crashForTest('hang');
      // Intake is the main thread's: it still acknowledges while the worker spins.
      expect((await post(srv, [play('hang-1', 'hang-t', 1), play('hang-2', 'hang-t', 2)])).status).toBe(202);
      // The lag alert sees the worker's backlog once the main processor's own gauge is 0.
      await until(
        async () => series(await metricsText(srv), 'backbeat_streaming_consumer_lag{partition="0"}') === 0,
        "the main processor's lag at 0",
        10_000,
      );
      await srv.app.alerts.tick();
      expect(srv.app.alerts.latest()?.['event_lag']).toBeGreaterThanOrEqual(2);
      await until(() => !worker.up, 'the hung worker terminated', 30_000);
      await until(() => worker.up, 'the worker restarted', 30_000);
      await srv.app.streaming.caughtUp();
      expect((await srv.app.streaming.trackStats('hang-t')).plays).toBe(2);
      expect(series(await metricsText(srv), 'backbeat_streaming_worker_restarts_total')).toBe(restarts + 1);
    },
  );
});

describe('STREAM_WORKER=false and =true', () => {
  it('give the same answers for the same workload', { timeout: 60_000 }, async () => {
    const events = Array.from({ length: 600 }, (_, i) => {
      const userId = `pu-${(i * 7) % 23}`;
      const trackId = `pt-${(i * 13 + Math.floor(i / 40)) % 30}`;
      const e = play(userId, trackId, i, { id: `parity-${i}` });
      return i % 9 === 4
        ? { ...e, type: 'track.liked', data: { trackId, artistId: `artist-${trackId}` } }
        : e;
    });
    const answers = async (env: Record<string, string>) => {
      const srv = await startTestServer(env);
      try {
        expect(srv.app.streaming.worker?.up ?? false).toBe(env['STREAM_WORKER'] === 'true');
        for (let i = 0; i < events.length; i += 100)
          expect((await post(srv, events.slice(i, i + 100))).status).toBe(202);
        await srv.app.streaming.caughtUp();
        const s = srv.app.streaming;
        return {
          tracks: await Promise.all(Array.from({ length: 30 }, (_, t) => s.trackStats(`pt-${t}`))),
          listening: await Promise.all(Array.from({ length: 23 }, (_, u) => s.userListening(`pu-${u}`))),
          recommendations: (
            await Promise.all(Array.from({ length: 23 }, (_, u) => s.recommend(`pu-${u}`, 10)))
          ).map((r) => ({ model: r.model, items: r.items.map((i) => i.trackId) })),
          plays: (await s.stats()).plays,
        };
      } finally {
        await srv.close();
      }
    };
    const inProcess = await answers({ STREAM_WORKER: 'false' });
    const inWorker = await answers({ STREAM_WORKER: 'true' });
    expect(inWorker).toEqual(inProcess);
    expect(inProcess.tracks.reduce((n, t) => n + t.plays, 0)).toBeGreaterThan(400);
  });
});
