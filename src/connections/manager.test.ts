import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/time/index.ts';
import type { Logger } from '../core/observability/index.ts';
import { createStrategy } from './balancer/index.ts';
import { ConnectionManager } from './manager.ts';
import { MemoryNodeRegistry, type NodeInfo, type NodeRegistry } from './registry/index.ts';

type Self = Omit<NodeInfo, 'updatedAt' | 'cpu' | 'eventLoopLagMs'>;

function self(node: string, over: Partial<Self> = {}): Self {
  return {
    node,
    url: `ws://${node}/ws`,
    connections: 0,
    capacity: 10,
    weight: 1,
    health: 'healthy',
    ...over,
  };
}

function capturingLogger(): { logger: Logger; warnings: Array<{ msg: string; err: unknown }> } {
  const warnings: Array<{ msg: string; err: unknown }> = [];
  const logger = {
    warn: (obj: { err: unknown }, msg: string) => warnings.push({ msg, err: obj.err }),
  } as unknown as Logger;
  return { logger, warnings };
}

function setup(
  opts: { clock?: ManualClock; registry?: NodeRegistry; me?: () => Self; heartbeatMs?: number } = {},
) {
  const clock = opts.clock ?? new ManualClock(1_000_000);
  const registry = opts.registry ?? new MemoryNodeRegistry({ clock, ttlMs: 10_000 });
  const { logger, warnings } = capturingLogger();
  const manager = new ConnectionManager({
    registry,
    strategy: createStrategy('least-connections'),
    clock,
    logger,
    self: opts.me ?? (() => self('a')),
    heartbeatMs: opts.heartbeatMs ?? 2_000,
  });
  return { clock, registry, manager, warnings };
}

describe('ConnectionManager', () => {
  it('registers this node on start with measured cpu and lag, and the clock time', async () => {
    const { manager, registry, clock } = setup();
    await manager.start();
    const [rec] = await registry.list();
    expect(rec).toMatchObject({ ...self('a'), updatedAt: clock.now() });
    expect(rec!.cpu).toBeGreaterThanOrEqual(0);
    expect(rec!.eventLoopLagMs).toBeGreaterThanOrEqual(0);
    await manager.close();
  });

  it('heartbeats on its interval with the current record, and stops after close', async () => {
    let connections = 0;
    const { manager, registry, clock } = setup({ me: () => self('a', { connections }) });
    await manager.start();
    connections = 7;
    clock.tick(2_000);
    await new Promise((r) => setImmediate(r));
    expect((await registry.list())[0]).toMatchObject({ connections: 7, updatedAt: 1_002_000 });

    await manager.close();
    expect(await registry.list()).toEqual([]); // deregistered
    connections = 9;
    clock.tick(10_000);
    await manager.heartbeat(); // a call after close writes nothing
    expect(await registry.list()).toEqual([]);
  });

  it('logs a failing heartbeat (first and periodic) instead of throwing', async () => {
    const failing: NodeRegistry = {
      heartbeat: () => Promise.reject(new Error('registry down')),
      list: () => Promise.resolve([]),
      deregister: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
    const { manager, warnings, clock } = setup({ registry: failing });
    await expect(manager.start()).resolves.toBeUndefined();
    clock.tick(2_000);
    await new Promise((r) => setImmediate(r));
    expect(warnings.map((w) => [w.msg, (w.err as Error).message])).toEqual([
      ['first node heartbeat failed', 'registry down'],
      ['node heartbeat failed', 'registry down'],
    ]);
    await manager.close();
  });

  it('close without start neither deregisters nor throws, and close twice is a no-op', async () => {
    const calls: string[] = [];
    const registry: NodeRegistry = {
      heartbeat: async () => void calls.push('heartbeat'),
      list: async () => [],
      deregister: async (n) => void calls.push(`deregister ${n}`),
      close: async () => void calls.push('close'),
    };
    const { manager } = setup({ registry });
    await manager.close();
    await manager.close();
    expect(calls).toEqual([]);

    const started = setup({ registry }).manager;
    await started.start();
    await started.close();
    await started.close();
    expect(calls).toEqual(['heartbeat', 'deregister a']);
  });

  it('picks among healthy nodes with spare capacity, by the strategy (least connections)', async () => {
    const clock = new ManualClock(1_000_000);
    const registry = new MemoryNodeRegistry({ clock, ttlMs: 10_000 });
    const rec = (node: string, over: Partial<NodeInfo>): NodeInfo => ({
      ...self(node),
      cpu: 0,
      eventLoopLagMs: 0,
      updatedAt: clock.now(),
      ...over,
    });
    await registry.heartbeat(rec('b', { connections: 5 }));
    await registry.heartbeat(rec('c', { connections: 1 }));
    await registry.heartbeat(rec('d', { connections: 0, health: 'draining' }));
    await registry.heartbeat(rec('e', { connections: 10, capacity: 10 })); // full
    const { manager } = setup({ clock, registry });
    expect((await manager.pick('user-1'))?.node).toBe('c');
    expect((await manager.nodes()).map((n) => n.node)).toEqual(['b', 'c', 'd', 'e']); // sorted

    // No healthy node with room: undefined, not an error.
    await registry.heartbeat(rec('c', { health: 'unhealthy' }));
    await registry.heartbeat(rec('b', { connections: 10 }));
    clock.tick(1_000); // past half a heartbeat: the cache is refreshed
    expect(await manager.pick()).toBeUndefined();
  });

  it('caches the node list for half a heartbeat; a heartbeat of its own invalidates it', async () => {
    const clock = new ManualClock(1_000_000);
    const inner = new MemoryNodeRegistry({ clock, ttlMs: 60_000 });
    let lists = 0;
    const registry: NodeRegistry = {
      heartbeat: (i) => inner.heartbeat(i),
      list: () => {
        lists++;
        return inner.list();
      },
      deregister: (n) => inner.deregister(n),
      close: () => inner.close(),
    };
    const { manager } = setup({ clock, registry, heartbeatMs: 2_000 });
    await manager.nodes();
    clock.tick(999);
    await manager.nodes();
    expect(lists).toBe(1);
    clock.tick(1);
    await manager.nodes(); // 1000 ms = half a heartbeat: read again
    expect(lists).toBe(2);
    await manager.heartbeat();
    await manager.nodes();
    expect(lists).toBe(3);
  });
});
