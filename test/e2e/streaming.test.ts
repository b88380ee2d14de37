/**
 * The event stream end to end on the embedded engines: POST /v1/events (JSON and NDJSON)
 * and the `event` command → the durable log → handlers (plays, recommendations) →
 * HTTP reads and the recommendation push to `user:<id>`; dead letters and their replay;
 * bad input rejected with reasons and changing nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackbeatError } from '../../src/core/errors/index.ts';
import type { EventHandler, StreamEvent } from '../../src/streaming/index.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON read off the wire
type Json = Record<string, any>;

/** A handler the test can make fail: `poison` tracks fail for good, `flaky` ones fail twice (retriable). */
class FaultyHandler implements EventHandler {
  readonly name = 'faulty';
  readonly types = new Set(['track.played']);
  readonly seen: string[] = [];
  poisonOn = true;
  #flaky = new Map<string, number>();
  handle(e: StreamEvent): void {
    const track = e.data['trackId'] as string;
    if (track.startsWith('poison') && this.poisonOn)
      throw new BackbeatError('BAD_REQUEST', `cannot handle ${track}`);
    if (track.startsWith('flaky')) {
      const n = (this.#flaky.get(e.id) ?? 0) + 1;
      this.#flaky.set(e.id, n);
      if (n <= 2) throw new BackbeatError('UNAVAILABLE', 'downstream briefly unavailable');
    }
    this.seen.push(e.id);
  }
}

const faulty = new FaultyHandler();
let srv: TestServer;
let writer: string;
let admin: string;
let reader: string;
const now = Date.now();
const play = (userId: string, trackId: string, extra: Record<string, unknown> = {}) => ({
  type: 'track.played',
  userId,
  ts: new Date(now).toISOString(),
  data: { trackId, artistId: `artist-${trackId}`, durationMs: 200_000, playedMs: 190_000 },
  ...extra,
});

async function post(body: unknown, token = writer, contentType = 'application/json') {
  const res = await fetch(`${srv.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Json };
}
const get = async (path: string, token = reader) => {
  const res = await fetch(`${srv.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Json };
};
const caughtUp = () => srv.app.streaming.caughtUp();

beforeAll(async () => {
  srv = await startTestServer(
    { RECOMMENDATION_PUSH_DEBOUNCE_MS: '50', EVENT_RETRY_BASE_MS: '1', EVENTS_MAX_BATCH: '50' },
    { eventHandlers: [faulty] },
  );
  writer = await srv.token({ sub: 'svc', scope: 'events:write' });
  admin = await srv.token({ sub: 'ops', scope: 'admin' });
  reader = await srv.token({ sub: 'dash', scope: 'analytics:read' });
});
afterAll(async () => srv.close());

describe('POST /v1/events', () => {
  it('accepts valid events, rejects invalid ones by index with the reason, and the rejected change nothing', async () => {
    const res = await post([
      play('u-a', 'tr-1'),
      {
        type: 'track.played',
        userId: 'u-a',
        ts: now,
        data: { trackId: 'tr-1', durationMs: -5, playedMs: 'x' },
      },
      { type: 'track.hummed', userId: 'u-a', ts: now, data: {} },
      { type: 'track.liked', ts: now, data: { trackId: 'tr-1', artistId: 'artist-tr-1' } },
      { type: 'track.liked', userId: 'u-a', ts: 1234, data: { trackId: 'tr-1', artistId: 'artist-tr-1' } },
      'not an object',
      {
        type: 'track.skipped',
        userId: 'u-a',
        ts: now,
        data: { trackId: 'tr-2', artistId: 'a2', positionMs: 3000 },
      },
    ]);
    expect(res.status).toBe(202);
    expect(res.body['accepted']).toBe(2);
    expect(res.body['ids']).toHaveLength(2);
    const reasons = Object.fromEntries(
      (res.body['rejected'] as Array<{ index: number; error: string }>).map((r) => [r.index, r.error]),
    );
    expect(Object.keys(reasons).map(Number)).toEqual([1, 2, 3, 4, 5]);
    expect(reasons[1]).toContain('artistId is required');
    expect(reasons[1]).toContain('data.durationMs');
    expect(reasons[1]).toContain('data.playedMs');
    expect(reasons[2]).toContain('unknown event type "track.hummed"');
    expect(reasons[3]).toContain('userId is required');
    expect(reasons[4]).toContain('before 2000-01-01');
    expect(reasons[5]).toContain('must be a JSON object');
    await caughtUp();
    expect((await get('/v1/tracks/tr-1/stats')).body).toMatchObject({ plays: 1, completes: 1, likes: 0 });
  });

  it('NDJSON, with a broken line rejected by index', async () => {
    const lines = [
      JSON.stringify(play('u-n', 'tr-n1')),
      '{not json',
      JSON.stringify(play('u-n', 'tr-n2')),
    ].join('\n');
    const res = await post(lines, writer, 'application/x-ndjson');
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      accepted: 2,
      rejected: [{ index: 1, error: expect.stringContaining('invalid JSON') }],
    });
  });

  it('drops duplicates by id: counted once, reported as duplicates', async () => {
    const id = randomUUID();
    expect((await post([play('u-d', 'tr-dup', { id })])).body).toMatchObject({
      accepted: 1,
      duplicates: 0,
      ids: [id],
    });
    expect((await post([play('u-d', 'tr-dup', { id }), play('u-d', 'tr-dup', { id })])).body).toMatchObject({
      accepted: 2,
      duplicates: 2,
    });
    await caughtUp();
    expect((await get('/v1/tracks/tr-dup/stats')).body['plays']).toBe(1);
  });

  it('refuses bad bodies, oversize batches and missing scopes with 400/401/403 and appends nothing', async () => {
    const before = (await get('/v1/events/stats', admin)).body['log'];
    expect((await post('"just a string"')).status).toBe(400);
    expect((await post([])).status).toBe(400);
    const big = await post(Array.from({ length: 51 }, (_, i) => play('u-big', `tr-big-${i}`)));
    expect(big.status).toBe(400);
    expect(big.body['error']['message']).toContain('EVENTS_MAX_BATCH');
    expect((await post([play('u-x', 'tr-x')], reader)).status).toBe(403);
    expect((await post([play('u-x', 'tr-x')], 'garbage')).status).toBe(401);
    expect((await get('/v1/events/stats', admin)).body['log']).toEqual(before);
  });
});

describe('the event command', () => {
  it("accepts an event for the connection's own user (userId filled in), refuses another user's and bad ones", async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'ws-user' }));
    const ok = await c.request({
      type: 'event',
      event: { type: 'track.liked', ts: now, data: { trackId: 'tr-ws', artistId: 'ar-ws' } },
    });
    expect(ok).toMatchObject({ type: 'accepted', eventId: expect.any(String) });
    expect(await c.request({ type: 'event', event: { ...play('someone-else', 'tr-ws') } })).toMatchObject({
      type: 'error',
      code: 4003,
    });
    const bad = await c.request({
      type: 'event',
      event: { type: 'track.played', ts: now, data: { trackId: 'tr-ws' } },
    });
    expect(bad).toMatchObject({ type: 'error', code: 4400 });
    expect(String(bad['message'])).toContain('artistId is required');
    await caughtUp();
    expect((await get('/v1/tracks/tr-ws/stats')).body).toMatchObject({ likes: 1, plays: 0 });
    await c.close();
  });
});

describe('recommendations', () => {
  it('learn from plays, are served over HTTP (own token or analytics:read) and pushed to user:<id> after a play', async () => {
    // Two listeners share a taste: a → b → c. A third has heard a and gets b, c.
    const seq = ['rk-a', 'rk-b', 'rk-c'];
    for (const u of ['rk-1', 'rk-2']) await post(seq.map((t, i) => play(u, t, { ts: now + i * 200_000 })));
    const listener = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'rk-3' }));
    await listener.request({ type: 'subscribe', channel: 'user:rk-3' });
    await post([play('rk-3', 'rk-a', { ts: now + 10_000_000 })]);
    await caughtUp();
    const own = await get('/v1/users/rk-3/recommendations?limit=5', await srv.token({ sub: 'rk-3' }));
    expect(own.status).toBe(200);
    expect(own.body['model']).toBe('item-knn');
    const ids = (own.body['items'] as Array<{ trackId: string }>).map((i) => i.trackId);
    expect(ids.slice(0, 2).sort()).toEqual(['rk-b', 'rk-c']);
    expect(ids).not.toContain('rk-a');
    expect((await get('/v1/users/rk-3/recommendations', await srv.token({ sub: 'rk-1' }))).status).toBe(403);
    const push = await listener.waitFor(
      (f) => f.type === 'message' && f['channel'] === 'user:rk-3',
      5000,
      'recommendation push',
    );
    expect(push['data']).toMatchObject({
      kind: 'recommendations',
      items: expect.arrayContaining([expect.objectContaining({ trackId: 'rk-b' })]),
    });
    // Nobody is subscribed to user:rk-1 or user:rk-2: their lists were not computed or
    // published (nothing in those channels' history), only counted.
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    const noListener = /backbeat_streaming_recommendation_pushes_total\{outcome="no_listener"\} (\d+)/.exec(
      text,
    );
    expect(Number(noListener?.[1])).toBeGreaterThanOrEqual(2);
    const adminHistory = await get(
      `/v1/channels/user:rk-1/history`,
      await srv.token({ sub: 'ops', scope: 'publish' }),
    );
    expect(adminHistory.status).toBe(200);
    expect(adminHistory.body['publications']).toEqual([]);
    await listener.close();
  });

  it('an unknown user gets the popularity baseline', async () => {
    const res = await get('/v1/users/nobody-yet/recommendations');
    expect(res.body).toMatchObject({ model: 'popularity', updatedAt: null });
    expect((res.body['items'] as unknown[]).length).toBeGreaterThan(0);
  });
});

describe('failures and the dead-letter queue', () => {
  it('retries a retriable failure, dead-letters a poison event without blocking the partition, and replays it', async () => {
    const poison = play('u-p', 'poison-1');
    const flaky = play('u-p', 'flaky-1');
    const after = play('u-p', 'after-poison');
    const res = await post([poison, flaky, after]);
    const [poisonId, flakyId, afterId] = res.body['ids'] as string[];
    await caughtUp();
    expect(faulty.seen).toContain(flakyId); // after two retriable failures
    expect(faulty.seen).toContain(afterId); // the poison event did not block the partition
    const dlq = await get('/v1/events/dlq', admin);
    expect(dlq.status).toBe(200);
    const entry = (dlq.body['items'] as Array<Json>).find((d) => d['eventId'] === poisonId);
    expect(entry).toMatchObject({
      handler: 'faulty',
      attempts: 1,
      error: { code: 'bad_request', retriable: false, message: 'cannot handle poison-1' },
    });
    expect((await get('/v1/events/dlq', reader)).status).toBe(403);
    // The plays handler still counted it: only the failing handler dead-letters.
    expect((await get('/v1/tracks/poison-1/stats')).body['plays']).toBe(1);

    // Replay while still broken: stays, attempts add up.
    const again = await fetch(`${srv.url}/v1/events/dlq/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ids: [entry!['id']] }),
    });
    expect(await again.json()).toMatchObject({ replayed: 1, succeeded: [], failed: [{ id: entry!['id'] }] });
    expect(
      ((await get('/v1/events/dlq', admin)).body['items'] as Array<Json>).find(
        (d) => d['eventId'] === poisonId,
      )?.['attempts'],
    ).toBe(2);

    faulty.poisonOn = false; // "fixed"
    const fixed = await fetch(`${srv.url}/v1/events/dlq/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(await fixed.json()).toMatchObject({ succeeded: [entry!['id']], failed: [] });
    expect(faulty.seen).toContain(poisonId);
    expect((await get('/v1/events/dlq', admin)).body['total']).toBe(0);
  });
});

describe('windows', () => {
  it('per-minute windows in event time: plays, unique listeners, top tracks; a late event beyond the grace changes nothing', async () => {
    const m = Math.ceil((now + 6 * 3_600_000) / 60_000) * 60_000; // a minute boundary hours ahead of the other tests
    const at = (ms: number, user: string, track: string) => play(user, track, { ts: m + ms });
    await post([
      at(1000, 'w-1', 'win-a'),
      at(2000, 'w-2', 'win-a'),
      at(59_000, 'w-1', 'win-b'),
      at(180_000, 'w-3', 'win-c'),
    ]);
    await caughtUp();
    const windows = async () => (await get('/v1/events/stats', admin)).body['windows'] as Json;
    const minute = async () =>
      ((await windows())['minutes'] as Json[]).find((w) => w['window']['start'] === m);
    expect(await minute()).toMatchObject({
      final: true,
      values: {
        plays: 3,
        listeners: 2,
        topTracks: [
          { item: 'win-a', count: 2 },
          { item: 'win-b', count: 1 },
        ],
      },
    });
    const lateBefore = (await windows())['lateEvents'] as number;
    await post([at(30_000, 'w-9', 'win-late')]);
    await caughtUp();
    expect((await windows())['lateEvents']).toBe(lateBefore + 1);
    expect((await minute())!['values']['plays']).toBe(3);
  });
});

describe('observability', () => {
  it('exports streaming metrics', async () => {
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    for (const m of [
      'backbeat_streaming_events_ingested_total{source="http",outcome="accepted"}',
      'backbeat_streaming_events_processed_total{handler="plays",outcome="ok"}',
      'backbeat_streaming_dead_letters',
      'backbeat_streaming_recommendation_update_seconds_bucket',
      'backbeat_streaming_plays_total{outcome="complete"}',
    ]) {
      expect(text).toContain(m);
    }
  });
});

describe('recommendation factors', () => {
  it('are retrained in the background from the listeners’ profiles while the stream goes on', async () => {
    const s = await startTestServer({ RECOMMENDATION_FACTORS_RETRAIN_MS: '300' });
    try {
      const token = await s.token({ sub: 'svc', scope: 'events:write' });
      const send = async (events: unknown[]) =>
        (
          await fetch(`${s.url}/v1/events`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify(events),
          })
        ).status;
      // Two tastes: 12 listeners of the a-tracks, 12 of the b-tracks.
      const events = [];
      for (let u = 0; u < 24; u++)
        for (let t = 0; t < 6; t++) events.push(play(`fx-${u}`, `fx-${u < 12 ? 'a' : 'b'}${(u + t) % 6}`));
      expect(await send(events)).toBe(202);
      await s.app.streaming.caughtUp();
      const trainings = async () =>
        Number(
          /backbeat_streaming_recommendation_factor_trainings_total\{outcome="ok"[^}]*\} (\d+)/.exec(
            await (await fetch(`${s.url}/metrics`)).text(),
          )?.[1] ?? 0,
        );
      await until(async () => (await trainings()) >= 1, 'a factor training', 20_000);
      // The stream goes on meanwhile and after: a newcomer to the a-tracks gets a-tracks.
      expect(await send([play('fx-new', 'fx-a0'), play('fx-new', 'fx-a1')])).toBe(202);
      await s.app.streaming.caughtUp();
      const recs = await s.app.streaming.recommend('fx-new', 3);
      expect(recs.model).toBe('item-knn');
      expect(recs.items.map((i) => i.trackId).every((t) => t.startsWith('fx-a'))).toBe(true);
      const text = await (await fetch(`${s.url}/metrics`)).text();
      expect(
        Number(
          /^backbeat_streaming_recommendation_factor_training_seconds(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1],
        ),
      ).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });
});
