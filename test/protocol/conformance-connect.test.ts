/** SPEC §3 connect rules, token expiry and refresh, over raw frames. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe('connect', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({
      CONNECT_TIMEOUT_MS: '400',
      MAX_CONNECTIONS_PER_USER: '2',
      PING_INTERVAL_MS: '25000',
    });
  });
  afterAll(async () => srv.close());

  it('connected reply has client, user, node, session, ttl and ping', async () => {
    const c = await RawClient.open(srv.wsUrl);
    const r = await c.request({ id: 1, type: 'connect', token: await srv.token({ sub: 'alice' }, 600) });
    expect(r).toEqual({
      id: 1,
      type: 'connected',
      client: expect.stringMatching(/^[0-9a-f-]{36}$/),
      user: 'alice',
      node: srv.app.config.nodeId,
      session: expect.any(String),
      ttl: expect.any(Number),
      ping: 25,
    });
    expect(r['ttl']).toBeGreaterThan(595);
    expect(r['ttl']).toBeLessThanOrEqual(600);
    await c.close();
  });

  it('a command before connect gets 4001 with its id and the connection closes 4001', async () => {
    const c = await RawClient.open(srv.wsUrl);
    const r = await c.request({ id: 7, type: 'subscribe', channel: 'chat:a' });
    expect(r).toMatchObject({ id: 7, type: 'error', code: 4001 });
    const d = await c.waitFor((f) => f.type === 'disconnect');
    expect(d).toEqual({ type: 'disconnect', code: 4001, reason: 'unauthorized', reconnect: false });
    expect((await c.closed).code).toBe(4001);
  });

  it('an unknown command type before connect is also 4001', async () => {
    const c = await RawClient.open(srv.wsUrl);
    const r = await c.request({ id: 3, type: 'nope' });
    expect(r).toMatchObject({ id: 3, type: 'error', code: 4001 });
    expect((await c.closed).code).toBe(4001);
  });

  it('a failed connect (bad token) gets 4001 and close 4001', async () => {
    const c = await RawClient.open(srv.wsUrl);
    const r = await c.request({ id: 1, type: 'connect', token: 'not-a-jwt' });
    expect(r).toMatchObject({ id: 1, type: 'error', code: 4001 });
    expect((await c.closed).code).toBe(4001);
  });

  it('a malformed connect (no token) gets 4001 and close 4001', async () => {
    const c = await RawClient.open(srv.wsUrl);
    const r = await c.request({ id: 1, type: 'connect' });
    expect(r).toMatchObject({ id: 1, type: 'error', code: 4001 });
    expect(String(r['message'])).toContain('token');
    expect((await c.closed).code).toBe(4001);
  });

  it('no connect within the timeout closes 4008 after a disconnect push', async () => {
    const c = await RawClient.open(srv.wsUrl);
    const closed = await c.closed;
    expect(closed.code).toBe(4008);
    expect(c.ofType('disconnect')[0]).toMatchObject({ code: 4008, reconnect: true });
  });

  it('a second connect is 4400 and the connection stays usable', async () => {
    const token = await srv.token({ sub: 'bob' });
    const c = await RawClient.connect(srv.wsUrl, token);
    expect(await c.request({ type: 'connect', token })).toMatchObject({
      type: 'error',
      code: 4400,
      message: 'already connected',
    });
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    await c.close();
  });

  it('commands pipelined behind connect are served after it, in order', async () => {
    const c = await RawClient.open(srv.wsUrl);
    c.send({ id: 1, type: 'connect', token: await srv.token({ sub: 'pipe' }) });
    c.send({ id: 2, type: 'subscribe', channel: 'chat:pipe' });
    c.send({ id: 3, type: 'publish', channel: 'chat:pipe', data: 'x' });
    expect(await c.waitFor((f) => f.id === 2)).toMatchObject({ type: 'subscribed' });
    expect(await c.waitFor((f) => f.id === 3)).toMatchObject({ type: 'published', offset: 1 });
    await c.close();
  });

  it('past 32 commands pipelined behind connect, each extra one gets 4029 and the connection stays', async () => {
    const c = await RawClient.open(srv.wsUrl);
    c.send({ id: 1, type: 'connect', token: await srv.token({ sub: 'pipe2' }) });
    for (let i = 0; i < 40; i++) c.send({ id: 100 + i, type: 'ping' });
    for (let i = 0; i < 32; i++)
      expect(await c.waitFor((f) => f.id === 100 + i)).toMatchObject({ type: 'pong' });
    for (let i = 32; i < 40; i++)
      expect(await c.waitFor((f) => f.id === 100 + i)).toMatchObject({ type: 'error', code: 4029 });
    expect(await c.request({ id: 999, type: 'ping' })).toMatchObject({ type: 'pong' });
    await c.close();
  });

  it('MAX_CONNECTIONS_PER_USER: the connect over it gets 4029 and close 4029', async () => {
    const token = await srv.token({ sub: 'many' });
    const a = await RawClient.connect(srv.wsUrl, token);
    const b = await RawClient.connect(srv.wsUrl, token);
    const c = await RawClient.open(srv.wsUrl);
    expect(await c.request({ type: 'connect', token })).toMatchObject({ type: 'error', code: 4029 });
    expect((await c.closed).code).toBe(4029);
    await a.close();
    // a freed slot can be used again
    await new Promise((r) => setTimeout(r, 50));
    const d = await RawClient.connect(srv.wsUrl, token);
    await Promise.all([b.close(), d.close()]);
  });

  it('ping answers pong', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'p' }));
    expect(await c.request({ id: 42, type: 'ping' })).toEqual({ id: 42, type: 'pong' });
    await c.close();
  });
});

describe('token expiry and refresh', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer();
  });
  afterAll(async () => srv.close());

  it('an expiring token without refresh gets disconnect 4011 and close 4011', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'exp' }, 2));
    const closed = await c.closed;
    expect(closed.code).toBe(4011);
    expect(c.ofType('disconnect')[0]).toEqual({
      type: 'disconnect',
      code: 4011,
      reason: 'token expired',
      reconnect: true,
    });
  });

  it('refresh extends the connection past the first token expiry', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'ref' }, 2));
    const r = await c.request({ type: 'refresh', token: await srv.token({ sub: 'ref' }, 60) });
    expect(r).toMatchObject({ type: 'refreshed', ttl: expect.any(Number) });
    expect(r['ttl']).toBeGreaterThan(50);
    await new Promise((res) => setTimeout(res, 2600));
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(c.ofType('disconnect')).toHaveLength(0);
    await c.close();
  });

  it('refresh with another user is 4001 and changes nothing', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'one' }));
    expect(await c.request({ type: 'refresh', token: await srv.token({ sub: 'two' }) })).toMatchObject({
      type: 'error',
      code: 4001,
    });
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    await c.close();
  });

  it('refresh with a bad token is 4001 and the connection stays', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'bad' }));
    expect(await c.request({ type: 'refresh', token: 'x.y.z' })).toMatchObject({ type: 'error', code: 4001 });
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    await c.close();
  });

  it('refresh grants apply to later commands', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'g', channels: [], publish: [] }));
    expect(await c.request({ type: 'subscribe', channel: 'news:a' })).toMatchObject({ code: 4003 });
    await c.request({
      type: 'refresh',
      token: await srv.token({ sub: 'g', channels: ['news:*'], publish: [] }),
    });
    expect(await c.request({ type: 'subscribe', channel: 'news:a' })).toMatchObject({ type: 'subscribed' });
    await c.close();
  });
});

describe('drain', () => {
  it('app.close() sends disconnect 1001 with reconnect:true and closes 1001', async () => {
    const srv = await startTestServer({ DRAIN_MS: '100' });
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'd' }));
    const closing = srv.app.close();
    const closed = await c.closed;
    await closing;
    expect(closed.code).toBe(1001);
    expect(c.ofType('disconnect')[0]).toMatchObject({ code: 1001, reconnect: true });
    await srv.close();
  });
});
