/**
 * Chaos: 3 real node processes on a private Redis (with AOF, as production should run
 * it). Subscribers spread over the nodes; a publisher publishes numbered messages to
 * the live nodes the whole time. Meanwhile a node is SIGKILLed, Redis is killed and
 * restarted, and a node is drained with SIGTERM. Every subscriber must end with every
 * acknowledged publication exactly once, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHs256 } from '../../src/core/auth/index.ts';
import { freePort, NodeProcess, RedisProcess } from '../helpers/processes.ts';
import { Publisher, TrackedSubscriber, verify } from '../helpers/tracker.ts';
import { until } from '../helpers/wait.ts';

const SECRET = 'chaos-secret-0123456789abcdef0123456789';

describe('cluster chaos: 3 nodes on Redis', () => {
  let redis: RedisProcess;
  const nodes: NodeProcess[] = [];
  const subs: TrackedSubscriber[] = [];
  let pub: Publisher;
  const down = new Set<NodeProcess>();
  const live = () => nodes.filter((n) => !down.has(n));

  beforeAll(async () => {
    redis = await new RedisProcess(await freePort()).start();
    for (const id of ['node-a', 'node-b', 'node-c']) {
      const n = new NodeProcess(await freePort(), {
        NODE_ID: id,
        JWT_SECRET: SECRET,
        REDIS_URL: redis.url,
        REDIS_PREFIX: 'chaos:',
        HEARTBEAT_INTERVAL_MS: '300',
        NODE_TTL_MS: '1500',
        PRESENCE_TTL_MS: '1500',
        HISTORY_SIZE: '5000',
        DRAIN_MS: '300',
      });
      nodes.push(n);
    }
    await Promise.all(nodes.map((n) => n.start()));
  }, 120_000);

  afterAll(async () => {
    await pub?.stop();
    await Promise.all(subs.map((s) => s.stop()));
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
  });

  it(
    'loses nothing acknowledged across a node kill, a Redis restart and a drain',
    { timeout: 240_000 },
    async () => {
      const channel = 'chaos:stream';
      const admin = await signHs256(SECRET, { sub: 'ops', scope: 'admin' }, 3600);
      for (let i = 0; i < 6; i++) {
        const token = await signHs256(SECRET, { sub: `listener-${i}`, channels: ['chaos:*'] }, 3600);
        const s = new TrackedSubscriber({
          name: `s${i}`,
          channel,
          token,
          urls: () => live().map((n) => n.wsUrl),
          startAt: i,
        });
        subs.push(s);
        await s.start();
      }
      pub = new Publisher({ channel, token: admin, urls: () => live().map((n) => n.url), intervalMs: 5 });
      pub.start();
      const grow = async (by: number, what: string) => {
        const target = pub.acked.length + by;
        await until(() => pub.acked.length >= target, what);
      };
      await grow(50, 'first publications');

      // 1. SIGKILL node-a: its subscribers reconnect elsewhere and recover; /v1/connect stops offering it.
      const [a, b] = [nodes[0]!, nodes[1]!];
      await a.kill();
      down.add(a);
      await until(
        async () => {
          const picks = await Promise.all(
            Array.from(
              { length: 6 },
              async () => ((await (await fetch(`${b.url}/v1/connect`)).json()) as { node: string }).node,
            ),
          );
          return !picks.includes('node-a');
        },
        'node-a removed from /v1/connect',
        10_000,
      );
      const nodesSeen = (
        (await (
          await fetch(`${b.url}/v1/admin/nodes`, { headers: { authorization: `Bearer ${admin}` } })
        ).json()) as { nodes: { node: string }[] }
      ).nodes.map((n) => n.node);
      expect(nodesSeen).not.toContain('node-a');
      await grow(50, 'publications after node kill');
      await a.start();
      down.delete(a);

      // 2. Redis dies and comes back: publishes are refused (503) meanwhile, readiness goes red, then all recovers.
      await redis.kill();
      await until(
        async () => (await fetch(`${b.url}/readyz`)).status === 503,
        'readyz red while redis is down',
        15_000,
      );
      const refused = await fetch(`${b.url}/v1/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'chaos:probe', data: 1 }),
      });
      expect(refused.status).toBe(503);
      await redis.start();
      await until(
        async () =>
          (await Promise.all(nodes.map(async (n) => (await fetch(`${n.url}/readyz`)).status))).every(
            (s) => s === 200,
          ),
        'all ready after redis restart',
        30_000,
      );
      await grow(50, 'publications after redis restart');

      // 3. SIGTERM node-b: its clients get 1001 and reconnect elsewhere.
      down.add(b);
      await b.terminate();
      await grow(50, 'publications after drain');
      await b.start();
      down.delete(b);
      await grow(20, 'publications with all nodes back');

      await pub.stop();
      const top = Math.max(...pub.acked.map((x) => x.offset));
      await until(
        () => subs.every((s) => s.lastOffset >= top),
        `every subscriber reached offset ${top}`,
        30_000,
      );

      for (const s of subs) {
        const r = verify(s, pub.acked);
        expect({
          name: s.name,
          missing: r.missing.length,
          duplicates: r.duplicates,
          outOfOrder: r.outOfOrder,
          recoveredFalse: s.recoveredFalse,
        }).toEqual({
          name: s.name,
          missing: 0,
          duplicates: 0,
          outOfOrder: 0,
          recoveredFalse: 0,
        });
      }
      expect(subs.reduce((n, s) => n + s.reconnects, 0)).toBeGreaterThan(0);
      expect(pub.acked.length).toBeGreaterThan(200);
    },
  );
});
