/** The SDK against a real server: connect, refresh, reconnect, recovery, errors. */
import { afterEach, describe, expect, it } from 'vitest';
import { BackbeatClient, BackbeatClientError, type Publication } from '../../src/client/index.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const servers: TestServer[] = [];
const clients: BackbeatClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close().catch(() => undefined)));
});

async function server(env: Record<string, string> = {}): Promise<TestServer> {
  const s = await startTestServer(env);
  servers.push(s);
  return s;
}
function client(url: string, opts: ConstructorParameters<typeof BackbeatClient>[1]): BackbeatClient {
  const c = new BackbeatClient(url, { minReconnectDelayMs: 20, maxReconnectDelayMs: 200, ...opts });
  clients.push(c);
  return c;
}
async function httpPublish(srv: TestServer, channel: string, data: unknown): Promise<number> {
  const r = await fetch(`${srv.url}/v1/publish`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await srv.token({ sub: 'svc', scope: 'admin' })}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ channel, data }),
  });
  return ((await r.json()) as { offset: number }).offset;
}
async function kick(srv: TestServer, user: string, code: number): Promise<void> {
  await fetch(`${srv.url}/v1/users/${user}/disconnect`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await srv.token({ sub: 'ops', scope: 'admin' })}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ code, reason: 'test' }),
  });
}

describe('BackbeatClient', () => {
  it('connects with a static token, subscribes, publishes and receives', async () => {
    const srv = await server();
    const c = client(srv.wsUrl, { token: await srv.token({ sub: 'amy' }) });
    const got: Publication[] = [];
    const sub = c.subscribe('chat:a');
    sub.on('publication', (p) => got.push(p));
    await c.connect();
    expect(c.info).toMatchObject({ user: 'amy', node: srv.app.config.nodeId });
    await until(() => sub.state === 'subscribed', 'subscribed');
    expect(await sub.publish({ hi: 1 })).toEqual({ offset: 1 });
    await until(() => got.length === 1, 'message');
    expect(got[0]).toMatchObject({ offset: 1, data: { hi: 1 }, info: { user: 'amy' } });
    expect(await c.presence('chat:a')).toEqual([{ user: 'amy', client: c.info!.client }]);
    expect((await c.history('chat:a')).publications.map((p) => p.data)).toEqual([{ hi: 1 }]);
    await c.ping();
  });

  it('connects with a token callback and refreshes before expiry', async () => {
    const srv = await server();
    let calls = 0;
    const c = client(srv.wsUrl, {
      token: async () => (calls++, srv.token({ sub: 'ref' }, 3)),
      refreshBeforeMs: 1500,
    });
    const disconnects: number[] = [];
    c.on('disconnected', (d) => disconnects.push(d.code));
    await c.connect();
    await new Promise((r) => setTimeout(r, 4000)); // past the first token's expiry
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(disconnects).toEqual([]);
    await c.ping();
  });

  it('reconnects after a server-side disconnect and recovers what was published meanwhile, exactly once in order', async () => {
    const srv = await server();
    const c = client(srv.wsUrl, { token: () => srv.token({ sub: 'rec' }) });
    const got: number[] = [];
    const sub = c.subscribe('chat:r');
    sub.on('publication', (p) => got.push(p.data as number));
    await c.connect();
    await until(() => sub.state === 'subscribed', 'subscribed');
    for (let i = 1; i <= 5; i++) await httpPublish(srv, 'chat:r', i);
    await until(() => got.length === 5, 'first five');
    const reconnected = new Promise<void>((r) => c.once('connected', () => r()));
    c.once('disconnected', () => {
      // publish while the client is away
      void (async () => {
        for (let i = 6; i <= 25; i++) await httpPublish(srv, 'chat:r', i);
      })();
    });
    await kick(srv, 'rec', 4500);
    await reconnected;
    await until(() => got.length >= 25, 'all 25');
    await new Promise((r) => setTimeout(r, 100));
    expect(got).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
  });

  it('after a server restart (history lost) it reconnects and reports recovered:false', async () => {
    const first = await startTestServer();
    const port = new URL(first.url).port;
    const token = () => first.token({ sub: 'rs' });
    const c = client(first.wsUrl, { token });
    const sub = c.subscribe('chat:rs');
    const subscribed: Array<{ recovered: boolean; resubscribe: boolean }> = [];
    sub.on('subscribed', (s) => subscribed.push(s));
    await c.connect();
    await httpPublish(first, 'chat:rs', 1);
    await until(() => sub.position?.offset === 1, 'first message');
    await first.close();
    const second = await server({ PORT: port });
    await until(() => subscribed.length === 2, 'resubscribed', 20_000);
    expect(subscribed[1]).toMatchObject({ recovered: false, resubscribe: true });
    await httpPublish(second, 'chat:rs', 'after');
    await until(() => sub.position?.offset === 1 && sub.position.epoch !== '', 'new stream');
  });

  it('does not reconnect after 4003 and rejects waiters with the code', async () => {
    const srv = await server();
    const c = client(srv.wsUrl, { token: await srv.token({ sub: 'ban' }) });
    await c.connect();
    const d = new Promise<{ code: number; reconnect: boolean }>((r) => c.once('disconnected', r));
    await kick(srv, 'ban', 4003);
    expect(await d).toMatchObject({ code: 4003, reconnect: false });
    await new Promise((r) => setTimeout(r, 300));
    expect(c.state).toBe('disconnected');
  });

  it('a bad token rejects connect() with 4001 and does not retry', async () => {
    const srv = await server();
    const c = client(srv.wsUrl, { token: 'bad.token.here' });
    const err = await c.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackbeatClientError);
    expect((err as BackbeatClientError).code).toBe(4001);
  });

  it('rejects commands with typed errors (4003) and times out commands', async () => {
    const srv = await server();
    const c = client(srv.wsUrl, {
      token: await srv.token({ sub: 'ro', publish: [] }),
      commandTimeoutMs: 300,
    });
    await c.connect();
    const e = await c.publish('chat:x', 1).catch((x: unknown) => x);
    expect(e).toMatchObject({ name: 'BackbeatClientError', code: 4003 });
    const offline = client('ws://127.0.0.1:9/ws', { token: 't', commandTimeoutMs: 200 });
    void offline.connect().catch(() => undefined);
    expect(await offline.ping().catch((x: unknown) => x)).toMatchObject({ code: 408 });
  });

  it('resumes its session on reconnect (subscriptions restored server-side)', async () => {
    const srv = await server();
    const c = client(srv.wsUrl, { token: () => srv.token({ sub: 'sess' }) });
    const got: number[] = [];
    const sub = c.subscribe('chat:s', { presence: true });
    sub.on('publication', (p) => got.push(p.data as number));
    await c.connect();
    await until(() => sub.state === 'subscribed', 'subscribed');
    await httpPublish(srv, 'chat:s', 1);
    await until(() => got.length === 1, 'one');
    const again = new Promise((r) => c.once('connected', r));
    await kick(srv, 'sess', 4500);
    await again;
    await httpPublish(srv, 'chat:s', 2);
    await until(() => got.length === 2, 'two');
    expect(got).toEqual([1, 2]);
    expect(await c.presence('chat:s')).toHaveLength(1);
  });
});
