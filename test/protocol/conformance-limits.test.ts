/** SPEC §3 limits: frame size, malformed frames, rate limits, origins, node capacity. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

describe('frames', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ MAX_MESSAGE_BYTES: '1024' });
  });
  afterAll(async () => srv.close());

  it('a frame over MAX_MESSAGE_BYTES closes the connection with 4013', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token());
    c.send({ id: 2, type: 'publish', channel: 'chat:big', data: 'x'.repeat(2000) });
    expect((await c.closed).code).toBe(4013);
  });

  it('a frame just under the limit is accepted', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token());
    const data = 'x'.repeat(900);
    expect(await c.request({ type: 'publish', channel: 'chat:ok', data })).toMatchObject({
      type: 'published',
    });
    await c.close();
  });

  it.each([
    ['not JSON', '{oops'],
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"connect"'],
    ['null', 'null'],
    ['no id', '{"type":"ping"}'],
    ['id zero', '{"id":0,"type":"ping"}'],
    ['negative id', '{"id":-1,"type":"ping"}'],
    ['fractional id', '{"id":1.5,"type":"ping"}'],
    ['string id', '{"id":"1","type":"ping"}'],
  ])('%s gets 4400 without id and the connection stays open', async (_name, frame) => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token());
    c.sendRaw(frame);
    const err = await c.waitFor((f) => f.type === 'error');
    expect(err).toEqual({ type: 'error', code: 4400, message: expect.any(String) });
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    await c.close();
  });

  it('a binary frame gets 4400 without id', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token());
    c.sendRaw(Buffer.from('{"id":5,"type":"ping"}'), true);
    expect(await c.waitFor((f) => f.type === 'error')).toMatchObject({ code: 4400 });
    expect(c.frames.find((f) => f.id === 5)).toBeUndefined();
    await c.close();
  });

  it.each([
    ['an unknown type', { type: 'dance' }, 'unknown command type'],
    ['a bad channel', { type: 'subscribe', channel: 'nocolon' }, 'channel'],
    ['an uppercase namespace', { type: 'subscribe', channel: 'Chat:x' }, 'channel'],
    [
      'a bad recover offset',
      { type: 'subscribe', channel: 'chat:x', recover: { offset: -1, epoch: 'e' } },
      'recover.offset',
    ],
    ['a non-boolean presence', { type: 'subscribe', channel: 'chat:x', presence: 'yes' }, 'presence'],
    ['publish without data', { type: 'publish', channel: 'chat:x' }, 'data'],
    ['a history limit too large', { type: 'history', channel: 'chat:x', limit: 100000 }, 'limit'],
    ['a refresh without token', { type: 'refresh' }, 'token'],
  ])('%s gets 4400 with its id and a message naming the problem', async (_name, cmd, word) => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token());
    const r = await c.request(cmd);
    expect(r).toMatchObject({ type: 'error', code: 4400 });
    expect(String(r['message'])).toContain(word);
    await c.close();
  });

  it('unknown extra fields are ignored', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token());
    expect(await c.request({ type: 'ping', future: { x: 1 } })).toMatchObject({ type: 'pong' });
    await c.close();
  });
});

describe('rate limit', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({
      RATE_LIMIT_COMMANDS: '10',
      RATE_LIMIT_WINDOW_MS: '60000',
      RATE_LIMIT_CLOSE_AFTER: '5',
    });
  });
  afterAll(async () => srv.close());

  it('the command over the limit gets 4029 with retryAfterMs', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'rl1' }));
    for (let i = 0; i < 9; i++) expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' }); // connect + 9 = 10
    const r = await c.request({ id: 500, type: 'ping' });
    expect(r).toEqual({
      id: 500,
      type: 'error',
      code: 4029,
      message: expect.any(String),
      retryAfterMs: expect.any(Number),
    });
    expect(r['retryAfterMs']).toBeGreaterThan(50_000);
    expect(r['retryAfterMs']).toBeLessThanOrEqual(60_000);
    await c.close();
  });

  it('a client that keeps flooding is closed 4029', async () => {
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'rl2' }));
    for (let i = 0; i < 30; i++) c.send({ id: 10 + i, type: 'ping' });
    const closed = await c.closed;
    expect(closed.code).toBe(4029);
    expect(c.ofType('error').filter((e) => e['code'] === 4029).length).toBe(5);
    expect(c.ofType('disconnect')[0]).toMatchObject({ code: 4029, reconnect: true });
  });

  it('the window slides: commands are accepted again once old ones leave it', async () => {
    const s2 = await startTestServer({ RATE_LIMIT_COMMANDS: '3', RATE_LIMIT_WINDOW_MS: '300' });
    const c = await RawClient.connect(s2.wsUrl, await s2.token());
    await c.request({ type: 'ping' });
    await c.request({ type: 'ping' });
    const limited = await c.request({ type: 'ping' });
    expect(limited).toMatchObject({ code: 4029 });
    await new Promise((r) => setTimeout(r, Number(limited['retryAfterMs']) + 20));
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    await c.close();
    await s2.close();
  });
});

describe('per-user rate limit', () => {
  it('USER_RATE_LIMIT_COMMANDS is shared by all connections of a user', async () => {
    const srv = await startTestServer({ USER_RATE_LIMIT_COMMANDS: '4', USER_RATE_LIMIT_WINDOW_MS: '60000' });
    const token = await srv.token({ sub: 'twice' });
    const a = await RawClient.connect(srv.wsUrl, token);
    const b = await RawClient.connect(srv.wsUrl, token);
    expect(await a.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(await b.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(await a.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(await b.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(await a.request({ type: 'publish', channel: 'chat:x', data: 1 })).toMatchObject({
      code: 4029,
      retryAfterMs: expect.any(Number),
    });
    expect(await b.request({ type: 'history', channel: 'chat:x' })).toMatchObject({ code: 4029 });
    // refused commands changed nothing
    const other = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'else' }));
    expect(await other.request({ type: 'history', channel: 'chat:x' })).toMatchObject({ offset: 0 });
    await Promise.all([a.close(), b.close(), other.close()]);
    await srv.close();
  });
});

describe('upgrade', () => {
  it('browsers from an origin not in ALLOWED_ORIGINS are refused with 403; allowed ones and non-browsers pass', async () => {
    const srv = await startTestServer({ ALLOWED_ORIGINS: 'https://app.example, https://admin.example' });
    await expect(RawClient.open(srv.wsUrl, { origin: 'https://evil.example' })).rejects.toThrow('HTTP 403');
    const ok = await RawClient.open(srv.wsUrl, { origin: 'https://admin.example' });
    const noOrigin = await RawClient.open(srv.wsUrl);
    await Promise.all([ok.close(), noOrigin.close()]);
    await srv.close();
  });

  it('a node at MAX_CONNECTIONS refuses upgrades with 503', async () => {
    const srv = await startTestServer({ MAX_CONNECTIONS: '2' });
    const a = await RawClient.open(srv.wsUrl);
    const b = await RawClient.open(srv.wsUrl);
    await expect(RawClient.open(srv.wsUrl)).rejects.toThrow('HTTP 503');
    await Promise.all([a.close(), b.close()]);
    await srv.close();
  });

  it('paths other than /ws are not upgraded', async () => {
    const srv = await startTestServer();
    await expect(RawClient.open(srv.url.replace('http', 'ws') + '/other')).rejects.toThrow('HTTP 404');
    await srv.close();
  });
});
