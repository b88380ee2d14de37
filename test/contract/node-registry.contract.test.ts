/**
 * The NodeRegistry contract (src/connections/registry) on every engine: memory (one
 * process) and Redis (the cluster; two registries on one prefix stand for two nodes).
 * Liveness is by the record's `updatedAt` against the registry's clock and TTL, so the
 * test's ManualClock drives expiry.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MemoryNodeRegistry,
  RedisNodeRegistry,
  type NodeInfo,
  type NodeRegistry,
} from '../../src/connections/registry/index.ts';
import { ManualClock } from '../../src/core/time/index.ts';
import { connectRedis, waitReady } from '../../src/gateway/engines/redis/index.ts';
import type { ScriptedRedis } from '../../src/gateway/engines/redis/connection.ts';
import { dropPrefix, REDIS_CLUSTER_URL, REDIS_URL } from './streaming-stores.ts';

interface RegistrySpace {
  /** A registry on this space (again: another node). */
  open(): NodeRegistry;
  dispose(): Promise<void>;
}

interface RegistryFactory {
  name: string;
  /** Whether registries opened on one space see each other's nodes. */
  shared: boolean;
  space(clock: ManualClock, ttlMs: number): Promise<RegistrySpace>;
}

const redisFactory = (name: string, url: string, cluster: boolean): RegistryFactory => ({
  name,
  shared: true,
  async space(clock, ttlMs) {
    const prefix = `t-${randomUUID()}:`;
    const conns: ScriptedRedis[] = [];
    const redis = connectRedis({ url, failFast: true, connectionName: 'backbeat-test', cluster });
    await waitReady(redis);
    conns.push(redis);
    const opened: NodeRegistry[] = [];
    return {
      open() {
        const r = new RedisNodeRegistry({ redis, prefix, clock, ttlMs });
        opened.push(r);
        return r;
      },
      async dispose() {
        await Promise.all(opened.map((r) => r.close()));
        await dropPrefix(redis, prefix);
        await Promise.all(conns.map((c) => c.quit().catch(() => c.disconnect())));
      },
    };
  },
});

const factories: RegistryFactory[] = [
  {
    name: 'memory',
    shared: false,
    async space(clock, ttlMs) {
      const registry = new MemoryNodeRegistry({ clock, ttlMs });
      // One process: every "node" registers in the same registry.
      return { open: () => registry, dispose: () => registry.close() };
    },
  },
  redisFactory('redis', REDIS_URL, false),
  ...(REDIS_CLUSTER_URL ? [redisFactory('redis-cluster', REDIS_CLUSTER_URL, true)] : []),
];

const TTL = 9_000;

function info(node: string, clock: ManualClock, o: Partial<NodeInfo> = {}): NodeInfo {
  return {
    node,
    url: `ws://10.0.0.${node.length}:8080/ws`,
    connections: 0,
    capacity: 1000,
    weight: 1,
    cpu: 0.1,
    eventLoopLagMs: 1,
    health: 'healthy',
    updatedAt: clock.now(),
    ...o,
  };
}

const byNode = (a: NodeInfo, b: NodeInfo) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0);

describe.each(factories)('NodeRegistry contract: $name', (factory) => {
  const spaces: RegistrySpace[] = [];
  afterEach(async () => {
    await Promise.all(spaces.splice(0).map((s) => s.dispose()));
  });
  const space = async (clock: ManualClock, ttlMs = TTL) => {
    const s = await factory.space(clock, ttlMs);
    spaces.push(s);
    return s;
  };

  it('a heartbeat joins a node; list returns its record as written', async () => {
    const clock = new ManualClock();
    const r = (await space(clock)).open();
    expect(await r.list()).toEqual([]);
    const a = info('node-a', clock, { connections: 12, health: 'draining', weight: 3 });
    await r.heartbeat(a);
    expect(await r.list()).toEqual([a]);
  });

  it('a later heartbeat replaces the record (load, health), never duplicates the node', async () => {
    const clock = new ManualClock();
    const r = (await space(clock)).open();
    await r.heartbeat(info('n1', clock, { connections: 1 }));
    clock.tick(1000);
    const newer = info('n1', clock, { connections: 50, health: 'unhealthy', cpu: 0.9 });
    await r.heartbeat(newer);
    expect(await r.list()).toEqual([newer]);
  });

  it('a node whose last heartbeat is older than the TTL is gone; a new heartbeat brings it back', async () => {
    const clock = new ManualClock();
    const r = (await space(clock)).open();
    await r.heartbeat(info('old', clock));
    clock.tick(TTL / 2);
    await r.heartbeat(info('fresh', clock));
    clock.tick(TTL / 2 - 1);
    expect((await r.list()).map((n) => n.node).sort()).toEqual(['fresh', 'old']); // one ms left
    clock.tick(1);
    expect((await r.list()).map((n) => n.node)).toEqual(['fresh']); // exactly TTL old: dead
    await r.heartbeat(info('old', clock));
    expect((await r.list()).map((n) => n.node).sort()).toEqual(['fresh', 'old']);
  });

  it('deregister removes the node at once (leave); deregistering an unknown node is harmless', async () => {
    const clock = new ManualClock();
    const r = (await space(clock)).open();
    await r.heartbeat(info('a', clock));
    await r.heartbeat(info('b', clock));
    await r.deregister('a');
    await r.deregister('never-was');
    expect((await r.list()).map((n) => n.node)).toEqual(['b']);
  });

  if (factory.shared) {
    it('nodes see each other: what one registers, another lists; a leave is seen by all', async () => {
      const clock = new ManualClock();
      const s = await space(clock);
      const a = s.open();
      const b = s.open();
      await a.heartbeat(info('a', clock));
      await b.heartbeat(info('b', clock));
      expect((await a.list()).map((n) => n.node).sort()).toEqual(['a', 'b']);
      expect((await b.list()).map((n) => n.node).sort()).toEqual(['a', 'b']);
      await a.deregister('a');
      expect((await b.list()).map((n) => n.node)).toEqual(['b']);
    });
  }

  it('property: list equals the nodes whose latest heartbeat is within the TTL and not deregistered since', async () => {
    const nodeName = fc.constantFrom('a', 'b', 'c', 'node-1', 'node:2', 'n.3');
    const op = fc.oneof(
      fc.record({ kind: fc.constant('beat' as const), node: nodeName, connections: fc.nat(1000) }),
      fc.record({ kind: fc.constant('leave' as const), node: nodeName }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: TTL }) }),
      fc.record({ kind: fc.constant('list' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 30 }), async (ops) => {
        const clock = new ManualClock();
        const s = await factory.space(clock, TTL);
        try {
          const nodes = [s.open(), s.open()];
          const model = new Map<string, NodeInfo>();
          let i = 0;
          const check = async () => {
            const want = [...model.values()].filter((n) => n.updatedAt > clock.now() - TTL).sort(byNode);
            expect((await nodes[i++ % nodes.length]!.list()).sort(byNode)).toEqual(want);
          };
          for (const o of ops) {
            if (o.kind === 'beat') {
              const n = info(o.node, clock, { connections: o.connections });
              await nodes[i++ % nodes.length]!.heartbeat(n);
              model.set(o.node, n);
            } else if (o.kind === 'leave') {
              await nodes[i++ % nodes.length]!.deregister(o.node);
              model.delete(o.node);
            } else if (o.kind === 'tick') clock.tick(o.ms);
            else await check();
          }
          await check();
        } finally {
          await s.dispose();
        }
      }),
      { numRuns: 30 },
    );
  });
});
