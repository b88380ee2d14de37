import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/time/index.ts';
import { KeyOwnership } from './ownership.ts';
import type { NodeInfo } from './registry/types.ts';

const node = (id: string, health: NodeInfo['health'] = 'healthy'): NodeInfo => ({
  node: id,
  url: `ws://${id}/ws`,
  connections: 0,
  capacity: 100,
  weight: 1,
  health,
  cpu: 0,
  eventLoopLagMs: 0,
  updatedAt: 0,
});

describe('KeyOwnership', () => {
  it('exactly one healthy node owns each key; unhealthy nodes own none; an empty view owns everything', async () => {
    const clock = new ManualClock(0);
    let nodes: NodeInfo[] = [];
    const views = ['a', 'b', 'c'].map(
      (self) => new KeyOwnership({ self, nodes: async () => nodes, clock, refreshMs: 1000 }),
    );
    expect(views.every((v) => v.owns('user-1'))).toBe(true); // nothing known yet: act rather than lose a push
    nodes = [node('a'), node('b'), node('c', 'draining')];
    await Promise.all(views.map((v) => v.refresh()));
    const keys = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
    for (const k of keys) expect(views.filter((v) => v.owns(k)).length).toBe(1);
    const byA = keys.filter((k) => views[0]!.owns(k)).length;
    expect(byA).toBeGreaterThan(300); // roughly half each between a and b
    expect(byA).toBeLessThan(700);
    expect(keys.some((k) => views[2]!.owns(k))).toBe(false);
    for (const v of views) v.close();
  });

  it('keeps its last view when the registry fails', async () => {
    const clock = new ManualClock(0);
    let fail = false;
    const o = new KeyOwnership({
      self: 'a',
      nodes: async () => (fail ? Promise.reject(new Error('redis down')) : [node('a'), node('b')]),
      clock,
      refreshMs: 1000,
    });
    await o.refresh();
    const owned = Array.from({ length: 100 }, (_, i) => o.owns(`k${i}`));
    fail = true;
    await o.refresh();
    expect(Array.from({ length: 100 }, (_, i) => o.owns(`k${i}`))).toEqual(owned);
    expect(owned.includes(false)).toBe(true);
    o.close();
  });
});
