/**
 * Cluster behaviour on real Redis: user-targeted operations across nodes, sessions that
 * resume on another node, gap repair after a lost pub/sub message, cluster-wide
 * connection limits, Redis AUTH, and presence of a dead node expiring.
 */
import { execSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { signHs256 } from '../../src/core/auth/index.ts';
import { loadConfig } from '../../src/core/config/index.ts';
import { App } from '../../src/app.ts';
import { StartupError } from '../../src/core/lifecycle/index.ts';
import { freePort, NodeProcess, RedisProcess } from '../helpers/processes.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { startTestServer, TEST_SECRET, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const REDIS = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function cluster(n: number, env: Record<string, string> = {}): Promise<TestServer[]> {
  const prefix = `t-${randomUUID()}:`;
  const nodes: TestServer[] = [];
  for (let i = 0; i < n; i++) {
    const s = await startTestServer({ REDIS_URL: REDIS, REDIS_PREFIX: prefix, ...env });
    nodes.push(s);
    cleanups.push(() => s.close());
  }
  return nodes;
}
const admin = (s: TestServer) => s.token({ sub: 'ops', scope: 'admin' });

describe('cluster on Redis', () => {
  it('POST /v1/users/{id}/disconnect on one node closes the user everywhere', async () => {
    const [a, b, c] = await cluster(3);
    const onA = await RawClient.connect(a!.wsUrl, await a!.token({ sub: 'roamer' }));
    const onB = await RawClient.connect(b!.wsUrl, await b!.token({ sub: 'roamer' }));
    const other = await RawClient.connect(b!.wsUrl, await b!.token({ sub: 'someone' }));
    const r = await fetch(`${c!.url}/v1/users/roamer/disconnect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await admin(c!)}` },
    });
    expect(r.status).toBe(200);
    expect((await onA.closed).code).toBe(4003);
    expect((await onB.closed).code).toBe(4003);
    expect(await other.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    await other.close();
  });

  it('a session resumes on another node with what was missed', async () => {
    const [a, b] = await cluster(2);
    const token = await a!.token({ sub: 'mover' });
    const first = await RawClient.open(a!.wsUrl);
    const connected = await first.request({ type: 'connect', token });
    await first.request({ type: 'subscribe', channel: 'chat:move' });
    await first.request({ type: 'publish', channel: 'chat:move', data: 1 });
    await first.waitFor((f) => f.type === 'message');
    await first.close();
    await new Promise((r) => setTimeout(r, 100));
    const pub = await RawClient.connect(b!.wsUrl, await b!.token({ sub: 'pub' }));
    await pub.request({ type: 'publish', channel: 'chat:move', data: 2 });
    const second = await RawClient.open(b!.wsUrl);
    const r = await second.request({ type: 'connect', token, session: connected['session'] });
    expect(r).toMatchObject({
      node: b!.app.config.nodeId,
      subscriptions: { 'chat:move': { recovered: true, since: 1, offset: 2 } },
    });
    expect(await second.waitFor((f) => f.type === 'message')).toMatchObject({ offset: 2, data: 2 });
    await Promise.all([second.close(), pub.close()]);
  });

  it('a publication whose pub/sub message was lost is repaired from history, in order', async () => {
    const [a, b] = await cluster(2);
    const sub = await RawClient.connect(a!.wsUrl, await a!.token({ sub: 'watcher' }));
    await sub.request({ type: 'subscribe', channel: 'chat:gap' });
    const pub = await RawClient.connect(b!.wsUrl, await b!.token({ sub: 'pub' }));
    await pub.request({ type: 'publish', channel: 'chat:gap', data: 'one' });
    await sub.waitFor((f) => f.type === 'message' && f['offset'] === 1);
    // Offset 2 enters history but its pub/sub message never reaches anyone.
    const engines = b!.app.engines as unknown as {
      history: { append(ch: string, p: object): Promise<unknown> };
    };
    await engines.history.append('chat:gap', { data: 'lost-on-the-wire', ts: Date.now() });
    await pub.request({ type: 'publish', channel: 'chat:gap', data: 'three' });
    await sub.waitFor((f) => f.type === 'message' && f['offset'] === 3);
    expect(sub.ofType('message').map((m) => [m['offset'], m['data']])).toEqual([
      [1, 'one'],
      [2, 'lost-on-the-wire'],
      [3, 'three'],
    ]);
    await Promise.all([sub.close(), pub.close()]);
  });

  it('MAX_CONNECTIONS_PER_USER holds across nodes', async () => {
    const [a, b] = await cluster(2, { MAX_CONNECTIONS_PER_USER: '2' });
    const token = await a!.token({ sub: 'limited' });
    const c1 = await RawClient.connect(a!.wsUrl, token);
    const c2 = await RawClient.connect(b!.wsUrl, token);
    const c3 = await RawClient.open(a!.wsUrl);
    expect(await c3.request({ type: 'connect', token })).toMatchObject({ type: 'error', code: 4029 });
    expect((await c3.closed).code).toBe(4029);
    await c2.close();
    await until(async () => {
      const c = await RawClient.open(b!.wsUrl);
      const r = await c.request({ type: 'connect', token });
      await c.close();
      return r.type === 'connected';
    }, 'slot freed');
    await c1.close();
  });

  it('presence spans nodes; join/leave cross nodes', async () => {
    const [a, b] = await cluster(2);
    const w = await RawClient.connect(a!.wsUrl, await a!.token({ sub: 'w' }));
    await w.request({ type: 'subscribe', channel: 'chat:p', presence: true });
    const x = await RawClient.connect(b!.wsUrl, await b!.token({ sub: 'x' }));
    await x.request({ type: 'subscribe', channel: 'chat:p' });
    expect(await w.waitFor((f) => f.type === 'join')).toMatchObject({ info: { user: 'x' } });
    const p = await x.request({ type: 'presence', channel: 'chat:p' });
    expect((p['clients'] as { user: string }[]).map((c) => c.user).sort()).toEqual(['w', 'x']);
    await x.close();
    expect(await w.waitFor((f) => f.type === 'leave')).toMatchObject({ info: { user: 'x' } });
    await w.close();
  });
});

describe('Redis with AUTH and node death', () => {
  it('connects with a password from REDIS_URL; a wrong one stops start-up with one clear line', async () => {
    const redis = await new RedisProcess(await freePort(), { password: 's3cret pass' }).start();
    cleanups.push(() => redis.stop());
    const [a] = await (async () => {
      const s = await startTestServer({ REDIS_URL: redis.url, REDIS_PREFIX: 'auth:' });
      cleanups.push(() => s.close());
      return [s];
    })();
    const c = await RawClient.connect(a.wsUrl, await a.token());
    expect(await c.request({ type: 'publish', channel: 'chat:auth', data: 1 })).toMatchObject({
      type: 'published',
      offset: 1,
    });
    await c.close();
    const bad = new App(
      loadConfig({
        PORT: '0',
        JWT_SECRET: TEST_SECRET,
        DATA_DIR: a.app.config.dataDir,
        LOG_LEVEL: 'silent',
        REDIS_URL: `redis://:wrong@127.0.0.1:${redis.port}`,
      }),
    );
    // A dependency refusing is a start-up failure naming the part, the setting and the cause,
    // not a configuration error; and the failed start leaves no connection of its own open.
    const err = await bad.start().then(
      () => new Error('started'),
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(StartupError);
    expect(err.message).toMatch(/^redis \(REDIS_URL\): cannot reach redis/);
    expect((err as StartupError).part).toBe('redis');
    expect(bad.state).toBe('closed');
  });

  describe('a failed start or construction closes what it opened', () => {
    const named = async (admin: Redis) =>
      String(await admin.call('CLIENT', 'LIST'))
        .split('\n')
        .filter((l) => / name=backbeat/.test(l)).length;
    const setup = async () => {
      const redis = await new RedisProcess(await freePort()).start();
      cleanups.push(() => redis.stop());
      const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      cleanups.push(() => admin.quit());
      const dir = mkdtempSync(join(tmpdir(), 'bb-failstart-'));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      return { redis, admin, dir };
    };

    it('the store refuses at start: StartupError naming DATABASE_URL, every Redis connection closed', async () => {
      const { redis, admin, dir } = await setup();
      const bad = new App(
        loadConfig({
          PORT: '0',
          NODE_ID: 'failstart',
          JWT_SECRET: TEST_SECRET,
          DATA_DIR: dir,
          LOG_LEVEL: 'silent',
          REDIS_URL: redis.url,
          DATABASE_URL: `postgres://nobody@127.0.0.1:${await freePort()}/none`,
        }),
      );
      const err = await bad.start().then(
        () => new Error('started'),
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(StartupError);
      expect((err as StartupError).part).toBe('store');
      expect(err.message).toMatch(/^store \(DATABASE_URL\): /);
      expect((err as StartupError).cause).toBeDefined();
      expect(bad.state).toBe('closed');
      await until(async () => (await named(admin)) === 0, 'the node closed its Redis connections');
    });

    it('construction throws half-way (DATA_DIR is a file): the Redis connections it opened are closed', async () => {
      const { redis, admin, dir } = await setup();
      const file = join(dir, 'not-a-dir');
      writeFileSync(file, 'x');
      expect(
        () =>
          new App(
            loadConfig({
              PORT: '0',
              NODE_ID: 'failconstruct',
              JWT_SECRET: TEST_SECRET,
              DATA_DIR: file,
              LOG_LEVEL: 'silent',
              REDIS_URL: redis.url,
            }),
          ),
      ).toThrow(/ENOTDIR|EEXIST|not a directory/i);
      await until(async () => (await named(admin)) === 0, 'the half-built node closed its Redis connections');
    });
  });

  it("a SIGKILLed node's presence members disappear within PRESENCE_TTL_MS", async () => {
    const redis = await new RedisProcess(await freePort()).start();
    cleanups.push(() => redis.stop());
    const env = {
      JWT_SECRET: TEST_SECRET,
      REDIS_URL: redis.url,
      PRESENCE_TTL_MS: '1500',
      HEARTBEAT_INTERVAL_MS: '300',
      NODE_TTL_MS: '1500',
    };
    const victim = await new NodeProcess(await freePort(), { ...env, NODE_ID: 'victim' }).start();
    cleanups.push(() => victim.stop());
    const survivor = await new NodeProcess(await freePort(), { ...env, NODE_ID: 'survivor' }).start();
    cleanups.push(() => survivor.stop());
    const token = await signHs256(TEST_SECRET, { sub: 'ghost', channels: ['*'] }, 600);
    const ghost = await RawClient.connect(victim.wsUrl, token);
    await ghost.request({ type: 'subscribe', channel: 'chat:ghosts' });
    const svc = await signHs256(TEST_SECRET, { sub: 'svc', scope: 'admin' }, 600);
    const presence = async () =>
      (
        (await (
          await fetch(`${survivor.url}/v1/channels/chat:ghosts/presence`, {
            headers: { authorization: `Bearer ${svc}` },
          })
        ).json()) as { clients: unknown[] }
      ).clients.length;
    expect(await presence()).toBe(1);
    await victim.kill();
    const killedAt = Date.now();
    await until(async () => (await presence()) === 0, 'ghost presence expired', 10_000);
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    type Nodes = { nodes: { node: string }[] };
    await until(
      async () =>
        !(
          (await (
            await fetch(`${survivor.url}/v1/admin/nodes`, { headers: { authorization: `Bearer ${svc}` } })
          ).json()) as Nodes
        ).nodes.some((n) => n.node === 'victim'),
      'victim deregistered',
      10_000,
    );
    ghost.ws.terminate();
    const r = new Redis(redis.url);
    expect(await r.ping()).toBe('PONG');
    r.disconnect();
  });
});

describe('cluster mode on a Redis Cluster (sharded pub/sub)', () => {
  const seed = process.env['TEST_REDIS_CLUSTER_URL'];
  it('two nodes fan out, share presence and history through a 3-master Redis Cluster', async () => {
    // scripts/test.sh always starts the cluster and sets the variable.
    expect(seed, 'TEST_REDIS_CLUSTER_URL (scripts/test.sh starts a local Redis Cluster)').toBeDefined();
    const prefix = `t-${randomUUID()}:`;
    const nodes: TestServer[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await startTestServer({ REDIS_URL: seed!, REDIS_CLUSTER: 'true', REDIS_PREFIX: prefix });
      nodes.push(s);
      cleanups.push(() => s.close());
    }
    const [a, b] = nodes as [TestServer, TestServer];
    const channels = ['chat:alpha', 'chat:beta', 'news:gamma', 'live:delta'];
    const sub = await RawClient.connect(a.wsUrl, await a.token({ sub: 'listener' }));
    for (const ch of channels) await sub.request({ type: 'subscribe', channel: ch, presence: true });
    const pub = await RawClient.connect(b.wsUrl, await b.token({ sub: 'speaker' }));
    for (const ch of channels)
      for (let i = 1; i <= 5; i++)
        expect(await pub.request({ type: 'publish', channel: ch, data: i })).toMatchObject({ offset: i });
    for (const ch of channels)
      await sub.waitFor((f) => f.type === 'message' && f['channel'] === ch && f['offset'] === 5);
    for (const ch of channels) {
      expect(
        sub
          .ofType('message')
          .filter((m) => m['channel'] === ch)
          .map((m) => m['offset']),
      ).toEqual([1, 2, 3, 4, 5]);
      expect((await pub.request({ type: 'presence', channel: ch }))['clients']).toEqual([
        { user: 'listener', client: expect.any(String) },
      ]);
    }
    const h = await pub.request({ type: 'history', channel: 'news:gamma', limit: 2 });
    expect((h['publications'] as { data: number }[]).map((p) => p.data)).toEqual([4, 5]);
    const r = await fetch(`${b.url}/v1/users/listener/disconnect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await admin(b)}` },
    });
    expect(r.status).toBe(200);
    expect((await sub.closed).code).toBe(4003);
    await pub.close();
  });
});

describe('cluster-wide per-user rate limit', () => {
  it('USER_RATE_LIMIT_COMMANDS counts every connection of the user on every node', async () => {
    const [a, b] = await cluster(2, { USER_RATE_LIMIT_COMMANDS: '10', USER_RATE_LIMIT_WINDOW_MS: '60000' });
    const token = await a!.token({ sub: 'busy' });
    const onA = await RawClient.connect(a!.wsUrl, token);
    const onB = await RawClient.connect(b!.wsUrl, token);
    for (let i = 0; i < 5; i++) expect(await onA.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    for (let i = 0; i < 5; i++) expect(await onB.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    const limited = await onA.request({ type: 'ping' });
    expect(limited).toMatchObject({ type: 'error', code: 4029, retryAfterMs: expect.any(Number) });
    expect(await onB.request({ type: 'ping' })).toMatchObject({ code: 4029 });
    const other = await RawClient.connect(b!.wsUrl, await b!.token({ sub: 'calm' }));
    expect(await other.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    await Promise.all([onA.close(), onB.close(), other.close()]);
  });
});

describe('rediss:// (TLS)', () => {
  it('connects to a TLS Redis whose CA comes from NODE_EXTRA_CA_CERTS; without it, start-up refuses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bb-tls-'));
    const sh = (cmd: string) => execSync(cmd, { cwd: dir, stdio: 'ignore' });
    sh(
      'openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj "/CN=backbeat-test-ca"',
    );
    sh('openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=127.0.0.1"');
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    sh(
      'openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 1 -extfile ext.cnf',
    );
    const port = await freePort();
    const redis = spawn(
      'redis-server',
      [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--tls-cert-file',
        'srv.crt',
        '--tls-key-file',
        'srv.key',
        '--tls-ca-cert-file',
        'ca.crt',
        '--tls-auth-clients',
        'no',
        '--save',
        '',
      ],
      { cwd: dir, stdio: 'ignore' },
    );
    cleanups.push(async () => {
      redis.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    await until(
      () =>
        new Promise<boolean>((res) => {
          const s = tlsConnect(
            { port, host: '127.0.0.1', ca: readFileSync(join(dir, 'ca.crt')) },
            () => (s.destroy(), res(true)),
          );
          s.once('error', () => res(false));
        }),
      'tls redis up',
      10_000,
    );
    const env = { JWT_SECRET: TEST_SECRET, REDIS_URL: `rediss://127.0.0.1:${port}`, REDIS_PREFIX: 'tls:' };
    const trusted = await new NodeProcess(await freePort(), {
      ...env,
      NODE_EXTRA_CA_CERTS: join(dir, 'ca.crt'),
    }).start();
    cleanups.push(() => trusted.stop());
    const c = await RawClient.connect(
      trusted.wsUrl,
      await signHs256(TEST_SECRET, { sub: 'tls', channels: ['*'], publish: ['*'] }, 600),
    );
    expect(await c.request({ type: 'publish', channel: 'chat:tls', data: 1 })).toMatchObject({
      type: 'published',
      offset: 1,
    });
    await c.close();
    // Verification is not weakened: without the CA the node refuses to start (exit 1), naming REDIS_URL.
    const untrusted = new NodeProcess(await freePort(), env);
    cleanups.push(() => untrusted.stop());
    await expect(untrusted.start()).rejects.toThrow(
      /exited 1: [^]*backbeat: cannot start: redis \(REDIS_URL\): cannot reach redis/,
    );
  });
});
