/**
 * Visible backpressure of the event stream: with the handlers stopped, intake keeps
 * accepting (the log is the buffer) until the lag limit; past it `POST /v1/events`
 * answers 503 `stream_backlog` with Retry-After and the WebSocket `event` command the
 * error 4503, and nothing more is appended. Once the handlers catch up, intake accepts
 * again and every accepted event is handled exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let srv: TestServer;
let admin: string;
const now = Date.now() - 60_000;
const play = (userId: string, i: number) => ({
  type: 'track.played',
  userId,
  ts: now + i,
  data: { trackId: 'bp-track', artistId: 'bp-artist', durationMs: 100_000, playedMs: 90_000 },
});

beforeAll(async () => {
  srv = await startTestServer({}, { streaming: { maxLag: 100, backlogRetryAfterMs: 2_000 } });
  admin = await srv.token({ sub: 'ops', scope: 'admin' });
});
afterAll(async () => {
  await srv?.close();
});

const post = async (events: unknown[]) => {
  const res = await fetch(`${srv.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as never,
  };
};

const get = async (path: string) =>
  (await (
    await fetch(`${srv.url}${path}`, { headers: { authorization: `Bearer ${admin}` } })
  ).json()) as Record<
    string,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON off the wire
    any
  >;

describe('lag limit', () => {
  it('refuses intake past maxLag with 503 + Retry-After and 4503, appends nothing, and recovers', async () => {
    await srv.app.streaming.pauseProcessing();
    let accepted = 0;
    let refused: Awaited<ReturnType<typeof post>> | undefined;
    for (let b = 0; b < 20 && !refused; b++) {
      const r = await post(Array.from({ length: 30 }, (_, i) => play(`bp-${i % 7}`, b * 30 + i)));
      if (r.status === 202) accepted += (r.body as { accepted: number }).accepted;
      else refused = r;
    }
    // Accepted up to the limit (the batch that crossed it included), then refused.
    expect(accepted).toBeGreaterThan(100);
    expect(accepted).toBeLessThanOrEqual(130);
    expect(refused).toMatchObject({
      status: 503,
      retryAfter: '2',
      body: { error: { code: 'stream_backlog' } },
    });
    const headsBefore = (await get('/v1/events/stats'))['log']['heads'];
    expect((await get('/v1/events/stats'))['processor']).toMatchObject({ lag: accepted, maxLag: 100 });

    // The WebSocket event command: the protocol's 4503.
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'ws-bp' }));
    const reply = await c.request({
      type: 'event',
      event: { type: 'track.liked', ts: now, data: { trackId: 'bp-track', artistId: 'bp-artist' } },
    });
    expect(reply).toMatchObject({ type: 'error', code: 4503 });
    await c.close();
    expect((await get('/v1/events/stats'))['log']['heads']).toEqual(headsBefore); // nothing appended
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/backbeat_streaming_backlog_refused_total\{source="http"\} 1/);
    expect(metrics).toMatch(/backbeat_streaming_backlog_refused_total\{source="ws"\} 1/);

    // Handlers back: they catch up, intake accepts again; every accepted event counted once.
    await srv.app.streaming.resumeProcessing();
    await srv.app.streaming.caughtUp();
    expect((await get('/v1/tracks/bp-track/stats'))['plays']).toBe(accepted);
    const again = await post([play('bp-late', 10_000)]);
    expect(again.status).toBe(202);
    await srv.app.streaming.caughtUp();
    expect((await get('/v1/tracks/bp-track/stats'))['plays']).toBe(accepted + 1);
    expect((await get('/v1/events/stats'))['processor']['lag']).toBe(0);
  });
});
