/**
 * Issue #8 reproductions, one per finding, each against a real server over real sockets:
 * deep JSON (frames, HTTP bodies, events), slow bodies, session theft, user ids, the
 * subprotocol, error shapes, replies before a flood close, the bearer scheme's case.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';
import { orAfter } from '../helpers/deadline.ts';
import { request as httpRequest } from 'node:http';

/** `{"a":` × n, 1, `}` × n: ~6n bytes, nested n deep. */
const deepText = (n: number): string => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

const json = (token: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${token}`,
  'content-type': 'application/json',
  ...extra,
});
const isSpecError = (body: unknown): boolean => {
  const e = (body as { error?: { code?: unknown; message?: unknown } }).error;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.code === 'string' &&
    typeof e.message === 'string' &&
    Object.keys(body as object).length === 1
  );
};

describe('deeply nested JSON is the sender’s 4400/400, never a dependency failure', () => {
  let srv: TestServer;
  let admin: string;
  beforeAll(async () => {
    srv = await startTestServer();
    admin = await srv.token({ sub: 'ops', scope: 'admin' });
  });
  afterAll(async () => srv.close());

  it('WebSocket publish of a 5,000-deep value: 4400 naming MAX_JSON_DEPTH, nothing stored, other users unaffected', async () => {
    const attacker = await RawClient.connect(
      srv.wsUrl,
      await srv.token({ sub: 'mallory', channels: ['room:*'], publish: ['room:*'] }),
    );
    const victim = await RawClient.connect(
      srv.wsUrl,
      await srv.token({ sub: 'victim', channels: ['room:*'], publish: ['room:*'] }),
    );
    expect(await attacker.request({ type: 'subscribe', channel: 'room:evil' })).toMatchObject({
      type: 'subscribed',
    });
    const payload = deepText(5000);
    for (let i = 0; i < 6; i++) {
      const id = 1000 + i;
      const reply = attacker.waitFor((f) => f.id === id);
      attacker.sendRaw(`{"id":${id},"type":"publish","channel":"room:evil","data":${payload}}`);
      const r = await reply;
      expect(r).toMatchObject({ type: 'error', code: 4400 });
      expect(String(r['message'])).toContain('MAX_JSON_DEPTH');
    }
    // Others publish on WS and HTTP; the node is ready; the poisoned channel still works.
    expect(await victim.request({ type: 'publish', channel: 'room:other', data: 'hi' })).toMatchObject({
      type: 'published',
      offset: 1,
    });
    const http = await fetch(`${srv.url}/v1/publish`, {
      method: 'POST',
      headers: json(admin),
      body: JSON.stringify({ channel: 'room:x', data: 1 }),
    });
    expect(http.status).toBe(200);
    expect((await fetch(`${srv.url}/readyz`)).status).toBe(200);
    expect(
      await attacker.request({ type: 'publish', channel: 'room:evil', data: { ok: true } }),
    ).toMatchObject({ type: 'published', offset: 1 });
    const hist = await fetch(`${srv.url}/v1/channels/room:evil/history`, { headers: json(admin) });
    expect(hist.status).toBe(200);
    expect(((await hist.json()) as { publications: unknown[] }).publications).toHaveLength(1);
    expect(await attacker.request({ type: 'history', channel: 'room:evil' })).toMatchObject({
      type: 'history',
      offset: 1,
    });
    await attacker.close();
    await victim.close();
  });

  it('an own "__proto__" key cannot hide a deep value', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'p' }));
    const reply = c.waitFor((f) => f.id === 7);
    c.sendRaw(
      `{"id":7,"type":"publish","channel":"room:p","data":{"__proto__":${'['.repeat(100)}${']'.repeat(100)}}}`,
    );
    expect(await reply).toMatchObject({ type: 'error', code: 4400 });
    await c.close();
  });

  it('HTTP publish with a deep body: 400 naming the limit, nothing stored', async () => {
    const r = await fetch(`${srv.url}/v1/publish`, {
      method: 'POST',
      headers: json(admin),
      body: `{"channel":"room:h","data":${deepText(5000)}}`,
    });
    expect(r.status).toBe(400);
    const body = await r.json();
    expect(isSpecError(body)).toBe(true);
    expect(JSON.stringify(body)).toContain('MAX_JSON_DEPTH');
    const ok = await fetch(`${srv.url}/v1/publish`, {
      method: 'POST',
      headers: json(admin),
      body: JSON.stringify({ channel: 'room:h', data: 'fine' }),
    });
    expect(await ok.json()).toMatchObject({ offset: 1 });
  });

  it('POST /v1/events: a deep event is rejected by index, the rest of the batch is accepted', async () => {
    const play = (track: string) => ({
      type: 'track.played',
      userId: 'u1',
      ts: Date.now(),
      data: { trackId: track, artistId: 'a', durationMs: 1000, playedMs: 900 },
    });
    const body = `[${JSON.stringify(play('t1'))},${JSON.stringify(play('t2')).replace('"playedMs":900', `"playedMs":900,"context":${deepText(5000)}`)},${JSON.stringify(play('t3'))}]`;
    const r = await fetch(`${srv.url}/v1/events`, { method: 'POST', headers: json(admin), body });
    expect(r.status).toBe(202);
    const j = (await r.json()) as { accepted: number; rejected: Array<{ index: number; error: string }> };
    expect(j.accepted).toBe(2);
    expect(j.rejected).toHaveLength(1);
    expect(j.rejected[0]!.index).toBe(1);
    expect(j.rejected[0]!.error).toContain('MAX_JSON_DEPTH');
    // The same as NDJSON.
    const nd = body.slice(1, -1).replace(/},{"type"/g, '}\n{"type"');
    const r2 = await fetch(`${srv.url}/v1/events`, {
      method: 'POST',
      headers: json(admin, { 'content-type': 'application/x-ndjson' }),
      body: nd,
    });
    expect(r2.status).toBe(202);
    expect(
      ((await r2.json()) as { rejected: Array<{ index: number }> }).rejected.map((x) => x.index),
    ).toEqual([1]);
  });

  it('the event command with a deep payload answers 4400 (not 4500)', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'u2' }));
    const reply = c.waitFor((f) => f.id === 3);
    c.sendRaw(
      `{"id":3,"type":"event","event":{"type":"app.opened","ts":${Date.now()},"data":{"platform":"ios","x":${deepText(5000)}}}}`,
    );
    expect(await reply).toMatchObject({ type: 'error', code: 4400 });
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    await c.close();
  });
});

/** Opens a raw TCP request with a partial body; resolves the response text when the server closes. */
function slowBody(
  url: string,
  path: string,
  token: string,
  localAddress?: string,
): { socket: Socket; response: Promise<string> } {
  const { hostname, port } = new URL(url);
  const socket = tcpConnect({
    host: hostname,
    port: Number(port),
    ...(localAddress ? { localAddress } : {}),
  });
  let text = '';
  socket.on('data', (d) => (text += d.toString()));
  socket.on('error', () => undefined);
  const response = new Promise<string>((resolve) => socket.on('close', () => resolve(text)));
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"channel":"room:a","data":"`,
  );
  return { socket, response };
}

describe('HTTP bodies that never finish', () => {
  let srv: TestServer;
  let admin: string;
  beforeAll(async () => {
    srv = await startTestServer({ HTTP_REQUEST_TIMEOUT_MS: '1500', HTTP_MAX_PENDING_BODIES_PER_IP: '5' });
    admin = await srv.token({ sub: 'ops', scope: 'admin' });
  });
  afterAll(async () => srv.close());

  it('a stalled or trickling body gets 408 in the SPEC shape and is closed; over the per-address bound, 429 at once; others are served meanwhile', async () => {
    // The attacker comes from 127.0.0.2 (still loopback), so the per-address bound is its own.
    const slow = Array.from({ length: 8 }, () => slowBody(srv.url, '/v1/publish', admin, '127.0.0.2'));
    const trickle = setInterval(() => slow[0]!.socket.write('x'), 300);
    const responses = await Promise.all(slow.map((s) => orAfter(s.response, 20_000, 'still open')));
    clearInterval(trickle);
    const statuses = responses.map((r) => /^HTTP\/1\.1 (\d+)/.exec(r)?.[1]);
    expect(statuses.filter((s) => s === '408')).toHaveLength(5);
    expect(statuses.filter((s) => s === '429')).toHaveLength(3);
    for (const r of responses) expect(isSpecError(JSON.parse(r.slice(r.indexOf('\r\n\r\n') + 4)))).toBe(true);
    for (const s of slow) s.socket.destroy();
  }, 40_000);

  it('a legitimate client is served while another address holds its whole bound', async () => {
    const slow = Array.from({ length: 5 }, () => slowBody(srv.url, '/v1/publish', admin, '127.0.0.2'));
    await until(
      async () => /backbeat_http_bodies_pending 5/.test(await (await fetch(`${srv.url}/metrics`)).text()),
      'five pending bodies',
    );
    const r = await fetch(`${srv.url}/v1/publish`, {
      method: 'POST',
      headers: json(admin),
      body: JSON.stringify({ channel: 'room:ok', data: 1 }),
    });
    expect(r.status).toBe(200);
    for (const s of slow) s.socket.destroy();
  });
});

describe('sessions, user ids, subprotocol, error shapes, floods, the bearer scheme', () => {
  let srv: TestServer;
  let admin: string;
  beforeAll(async () => {
    srv = await startTestServer();
    admin = await srv.token({ sub: 'ops', scope: 'admin' });
  });
  afterAll(async () => srv.close());

  it("a stolen resume token restores nothing and does not consume the owner's session", async () => {
    const alice = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'alice' }));
    await alice.request({ type: 'subscribe', channel: 'chat:s' });
    const session = String(alice.frames.find((f) => f.type === 'connected')!['session']);
    await alice.close();
    await new Promise((r) => setTimeout(r, 50));
    const bob = await RawClient.open(srv.wsUrl);
    const b = await bob.request({ type: 'connect', token: await srv.token({ sub: 'bob' }), session });
    expect(b).toMatchObject({ type: 'connected', user: 'bob' });
    expect(b['subscriptions']).toBeUndefined();
    await bob.close();
    const again = await RawClient.open(srv.wsUrl);
    const a = await again.request({ type: 'connect', token: await srv.token({ sub: 'alice' }), session });
    expect(Object.keys(a['subscriptions'] as object)).toEqual(['chat:s']);
    await again.close();
  });

  it('one user id definition: a sub with each allowed character works through connect, events, recommendations and the inbox', async () => {
    for (const sub of ['a=b', 'a:b', 'A.b_c-d@e', '=', 'x'.repeat(128)]) {
      const token = await srv.token({ sub, channels: [], publish: [] });
      const c = await RawClient.connect(srv.wsUrl, token);
      expect(await c.request({ type: 'subscribe', channel: `user:${sub}` })).toMatchObject({
        type: 'subscribed',
      });
      expect(
        await c.request({
          type: 'event',
          event: { type: 'app.opened', ts: Date.now(), data: { platform: 'web' } },
        }),
      ).toMatchObject({ type: 'accepted' });
      const r = await fetch(`${srv.url}/v1/users/${encodeURIComponent(sub)}/recommendations`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(r.status).toBe(200);
      const ev = await fetch(`${srv.url}/v1/events`, {
        method: 'POST',
        headers: json(admin),
        body: JSON.stringify({ type: 'app.opened', userId: sub, ts: Date.now(), data: { platform: 'ios' } }),
      });
      expect(((await ev.json()) as { accepted: number }).accepted).toBe(1);
      await c.close();
    }
    // Outside the charset (or ending in ':'): refused everywhere alike.
    for (const bad of ['a b', 'a:', 'é', 'x'.repeat(129)]) {
      const token = await srv.token({ sub: bad });
      const c = await RawClient.open(srv.wsUrl);
      expect(await c.request({ type: 'connect', token })).toMatchObject({ type: 'error', code: 4001 });
      const ev = await fetch(`${srv.url}/v1/events`, {
        method: 'POST',
        headers: json(admin),
        body: JSON.stringify({ type: 'app.opened', userId: bad, ts: Date.now(), data: { platform: 'ios' } }),
      });
      expect(((await ev.json()) as { rejected: unknown[] }).rejected).toHaveLength(1);
      await c.close();
    }
  });

  it('subprotocol: backbeat.v1 is selected when offered, a list without it is refused, none is allowed', async () => {
    const open = (protocols?: string[]) =>
      new Promise<{ protocol?: string; status?: number; body?: string }>((resolve) => {
        const ws = protocols ? new WebSocket(srv.wsUrl, protocols) : new WebSocket(srv.wsUrl);
        ws.on('open', () => {
          resolve({ protocol: ws.protocol });
          ws.close();
        });
        ws.on('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        ws.on('error', () => undefined);
      });
    expect(await open(['evil.v9'])).toMatchObject({ status: 400 });
    expect(isSpecError(JSON.parse((await open(['evil.v9'])).body!))).toBe(true);
    expect(await open(['evil.v9', 'backbeat.v1'])).toEqual({ protocol: 'backbeat.v1' });
    expect(await open(['backbeat.v1'])).toEqual({ protocol: 'backbeat.v1' });
    expect(await open()).toEqual({ protocol: '' });
  });

  it('every error the service sends has the SPEC shape, the framework’s own included', async () => {
    const auth = { authorization: `Bearer ${admin}` };
    const cases: Array<[string, RequestInit, number]> = [
      ['/v1/channels/chat:%ZZ/history', { headers: auth }, 400],
      [`/v1/channels/chat:${'x'.repeat(5000)}/history`, { headers: auth }, 414],
      [`/v1/channels/chat:${'x'.repeat(300)}/history`, { headers: auth }, 400],
      ['/docs/static/../../../etc/passwd', {}, 404],
      ['/nope', {}, 404],
      [
        '/v1/publish',
        { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"channel":' },
        400,
      ],
      [
        '/v1/publish',
        { method: 'POST', headers: { ...auth, 'content-type': 'application/xml' }, body: '<a/>' },
        415,
      ],
      [
        '/v1/publish',
        {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ channel: 'a:b', data: 'x'.repeat(70_000) }),
        },
        413,
      ],
      ['/v1/publish', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, 400],
      ['/v1/admin/nodes', {}, 401],
      ['/v1/admin/nodes', { headers: { authorization: `Bearer ${await srv.token({ sub: 'x' })}` } }, 403],
    ];
    for (const [path, init, status] of cases) {
      const r = await fetch(`${srv.url}${path}`, init);
      const text = await r.text();
      expect(r.status, `${path} → ${text}`).toBe(status);
      expect(isSpecError(JSON.parse(text)), `${path} → ${text}`).toBe(true);
    }
    // Paths sent as they are (fetch would normalize the dots away).
    for (const [path, status] of [
      ['/docs/static/../..', 403],
      ['/docs/static/..%2f..%2fpackage.json', 403],
    ] as const) {
      const { port } = new URL(srv.url);
      const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path }, (r) => {
          let text = '';
          r.on('data', (d: Buffer) => (text += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode!, text }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(res.status, `${path} → ${res.text}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${path} → ${res.text}`).toBeLessThan(500);
      expect(isSpecError(JSON.parse(res.text)), `${path} → ${res.text}`).toBe(true);
      void status;
    }
  });

  it('a flood close comes after the reply of every command that was accepted', async () => {
    const sub = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'listener' }));
    await sub.request({ type: 'subscribe', channel: 'chat:flood' });
    const pub = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'flooder' }));
    const frames = Array.from({ length: 300 }, (_, i) =>
      JSON.stringify({ id: 1000 + i, type: 'publish', channel: 'chat:flood', data: i }),
    );
    for (const f of frames) pub.ws.send(f);
    const closed = await pub.closed;
    expect(closed.code).toBe(4029);
    const published = pub.ofType('published');
    const hist = (await (
      await fetch(`${srv.url}/v1/channels/chat:flood/history?limit=100`, {
        headers: { authorization: `Bearer ${admin}` },
      })
    ).json()) as { offset: number };
    // Every stored publication was acknowledged to its publisher before the close.
    expect(published.length).toBe(hist.offset);
    expect(published.length).toBeGreaterThanOrEqual(50);
    await until(() => sub.ofType('message').length === published.length, 'every publication delivered');
    await sub.close();
  });

  it('the Authorization scheme is case-insensitive (RFC 7235)', async () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer', 'bEaReR']) {
      const r = await fetch(`${srv.url}/v1/admin/nodes`, {
        headers: { authorization: `${scheme} ${admin}` },
      });
      expect(r.status).toBe(200);
    }
    expect(
      (await fetch(`${srv.url}/v1/admin/nodes`, { headers: { authorization: `Basic ${admin}` } })).status,
    ).toBe(401);
  });
});
