/** SPEC §4 HTTP API routes that exist today, with their error shapes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let srv: TestServer;
let publishTok: string;
let adminTok: string;
beforeAll(async () => {
  srv = await startTestServer({ MAX_MESSAGE_BYTES: '2048' });
  publishTok = await srv.token({ sub: 'svc', scope: 'publish' });
  adminTok = await srv.token({ sub: 'ops', scope: 'admin' });
});
afterAll(async () => srv.close());

const post = (path: string, body: unknown, token?: string, type = 'application/json') =>
  fetch(srv.url + path, {
    method: 'POST',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': type },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const get = (path: string, token?: string) =>
  fetch(srv.url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });

describe('POST /v1/publish', () => {
  it('200 {offset, epoch} and the publication reaches WebSocket subscribers', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'listener' }));
    await c.request({ type: 'subscribe', channel: 'chat:http' });
    const r = await post('/v1/publish', { channel: 'chat:http', data: { hello: 1 } }, publishTok);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ offset: 1, epoch: expect.any(String) });
    expect(await c.waitFor((f) => f.type === 'message')).toEqual({
      type: 'message',
      channel: 'chat:http',
      offset: 1,
      data: { hello: 1 },
      info: { user: 'svc' },
    });
    await c.close();
  });

  it.each([
    ['no channel', { data: 1 }],
    ['no data', { channel: 'chat:x' }],
    ['a bad channel', { channel: 'bad', data: 1 }],
    ['a non-object body', [1, 2]],
  ])('400 with the reason for %s, and nothing published', async (_n, body) => {
    const r = await post('/v1/publish', body, publishTok);
    expect(r.status).toBe(400);
    const e = (await r.json()) as { error: { code: string; message: string } };
    expect(e.error.code).toBe('bad_request');
    expect(e.error.message.length).toBeGreaterThan(3);
  });

  it('400 for malformed JSON', async () => {
    const r = await post('/v1/publish', '{"channel":', publishTok);
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('bad_request');
  });

  it('413 for a body over MAX_MESSAGE_BYTES', async () => {
    const r = await post('/v1/publish', { channel: 'chat:x', data: 'y'.repeat(5000) }, publishTok);
    expect(r.status).toBe(413);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('too_large');
  });

  it('401 without a token or with a bad one; 403 without the publish scope', async () => {
    expect((await post('/v1/publish', { channel: 'chat:x', data: 1 })).status).toBe(401);
    expect((await post('/v1/publish', { channel: 'chat:x', data: 1 }, 'nope')).status).toBe(401);
    const r = await post(
      '/v1/publish',
      { channel: 'chat:x', data: 1 },
      await srv.token({ sub: 'u', scope: 'analytics:read' }),
    );
    expect(r.status).toBe(403);
    expect(await r.json()).toEqual({ error: { code: 'forbidden', message: 'token lacks scope publish' } });
  });

  it('nothing changed after the refused requests', async () => {
    const h = (await (await get('/v1/channels/chat:x/history', publishTok)).json()) as { offset: number };
    expect(h.offset).toBe(0);
  });
});

describe('presence and history', () => {
  it('GET presence lists WebSocket subscribers', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'present' }));
    await c.request({ type: 'subscribe', channel: 'chat:pres' });
    const r = await get('/v1/channels/chat:pres/presence', publishTok);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({
      channel: 'chat:pres',
      clients: [{ user: 'present', client: expect.any(String) }],
    });
    await c.close();
  });

  it('GET history: latest, limit, since (+epoch)', async () => {
    for (let i = 1; i <= 4; i++) await post('/v1/publish', { channel: 'chat:hist', data: i }, publishTok);
    const all = (await (await get('/v1/channels/chat:hist/history', publishTok)).json()) as {
      offset: number;
      epoch: string;
      publications: { offset: number; data: number; ts: number }[];
    };
    expect(all.offset).toBe(4);
    expect(all.publications.map((p) => p.data)).toEqual([1, 2, 3, 4]);
    const lim = (await (
      await get('/v1/channels/chat:hist/history?limit=1', publishTok)
    ).json()) as typeof all;
    expect(lim.publications.map((p) => p.data)).toEqual([4]);
    const since = (await (
      await get(`/v1/channels/chat:hist/history?since=2&epoch=${all.epoch}`, publishTok)
    ).json()) as typeof all;
    expect(since.publications.map((p) => p.offset)).toEqual([3, 4]);
  });

  it('400 for a bad channel or query; 401 without a token', async () => {
    expect((await get('/v1/channels/bad/history', publishTok)).status).toBe(400);
    expect((await get('/v1/channels/chat:x/history?limit=-1', publishTok)).status).toBe(400);
    expect((await get('/v1/channels/chat:x/history?since=abc', publishTok)).status).toBe(400);
    expect((await get('/v1/channels/chat:x/history?epoch=e', publishTok)).status).toBe(400);
    expect((await get('/v1/channels/chat:x/presence')).status).toBe(401);
  });
});

describe('POST /v1/users/{id}/disconnect', () => {
  it('closes every connection of the user (admin scope), others stay', async () => {
    const a = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'kick' }));
    const b = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'kick' }));
    const other = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'stay' }));
    expect((await post('/v1/users/kick/disconnect', {}, publishTok)).status).toBe(403);
    const r = await fetch(`${srv.url}/v1/users/kick/disconnect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminTok}` },
    });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ user: 'kick' });
    expect((await a.closed).code).toBe(4003);
    expect((await b.closed).code).toBe(4003);
    expect(a.ofType('disconnect')[0]).toMatchObject({ code: 4003, reconnect: false });
    expect(await other.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    await other.close();
  });

  it('takes an optional code and reason', async () => {
    const a = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'kick2' }));
    await post('/v1/users/kick2/disconnect', { code: 4500, reason: 'moving you' }, adminTok);
    const closed = await a.closed;
    expect(closed).toEqual({ code: 4500, reason: 'moving you' });
    expect((await post('/v1/users/kick2/disconnect', { code: 1000 }, adminTok)).status).toBe(400);
  });
});

describe('operations routes', () => {
  it('GET /healthz and /readyz', async () => {
    expect(await (await get('/healthz')).json()).toEqual({ status: 'ok' });
    const r = await get('/readyz');
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({
      status: 'ready',
      state: 'ready',
      checks: { memory: { ok: true }, breaker: { ok: true } },
    });
  });

  it('GET /metrics exposes backbeat_ series in Prometheus text format', async () => {
    const r = await get('/metrics');
    expect(r.headers.get('content-type')).toContain('text/plain');
    const text = await r.text();
    for (const name of [
      'backbeat_gateway_connections',
      'backbeat_gateway_commands_total',
      'backbeat_gateway_messages_in_total',
      'backbeat_gateway_messages_out_total',
      'backbeat_gateway_bytes_out_total',
      'backbeat_gateway_publish_duration_seconds_bucket',
      'backbeat_gateway_rate_limited_total',
      'backbeat_gateway_slow_consumer_closes_total',
      'backbeat_errors_total',
      'backbeat_http_requests_total',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/backbeat_gateway_commands_total\{type="subscribe",outcome="ok"\} \d+/);
  });

  it('GET /openapi.json is an OpenAPI 3 document listing the v1 routes; /docs serves the UI', async () => {
    const doc = (await (await get('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of [
      '/v1/publish',
      '/v1/channels/{channel}/presence',
      '/v1/channels/{channel}/history',
      '/v1/users/{id}/disconnect',
      '/v1/connect',
      '/healthz',
    ]) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
    const ui = await get('/docs/');
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger');
  });

  it('GET /v1/connect names this node; /v1/admin/nodes lists it (admin)', async () => {
    const c = (await (await get('/v1/connect')).json()) as { url: string; node: string };
    expect(c).toEqual({ url: srv.wsUrl, node: srv.app.config.nodeId });
    expect((await get('/v1/admin/nodes', publishTok)).status).toBe(403);
    const nodes = (await (await get('/v1/admin/nodes', adminTok)).json()) as {
      nodes: { node: string; capacity: number; health: string }[];
    };
    expect(nodes.nodes).toHaveLength(1);
    expect(nodes.nodes[0]).toMatchObject({
      node: srv.app.config.nodeId,
      health: 'healthy',
      capacity: 100000,
    });
  });

  it('unknown routes are 404 in the error shape', async () => {
    const r = await get('/v1/nope');
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});
