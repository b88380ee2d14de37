import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/observability/index.ts';
import { ManualClock } from '../../core/time/index.ts';
import { BackbeatError } from '../../core/errors/index.ts';
import { createStrategy } from '../balancer/index.ts';
import { EndpointPool } from './endpoint-pool.ts';

const logger = createLogger('silent');

function pool(clock = new ManualClock(), extra: Partial<ConstructorParameters<typeof EndpointPool>[0]> = {}) {
  return new EndpointPool({
    endpoints: [{ id: 'https://a' }, { id: 'https://b' }],
    strategy: createStrategy('round-robin'),
    clock,
    logger,
    failureThreshold: 2,
    benchMs: 1000,
    ...extra,
  });
}

describe('EndpointPool', () => {
  it('fails over to another endpoint on a retriable error', async () => {
    const p = pool();
    const seen: string[] = [];
    const r = await p.run(async (ep) => {
      seen.push(ep);
      if (ep === 'https://a') throw new Error('ECONNRESET');
      return ep;
    });
    expect(r).toBe('https://b');
    expect(seen).toEqual(['https://a', 'https://b']);
  });

  it('does not fail over on a non-retriable error', async () => {
    const p = pool();
    await expect(
      p.run(async () => Promise.reject(new BackbeatError('BAD_REQUEST', 'payload too big'))),
    ).rejects.toThrow('payload too big');
  });

  it('benches an endpoint after the threshold and tries it again after the bench', async () => {
    const clock = new ManualClock();
    const p = pool(clock);
    let aDown = true;
    const call = (ep: string) =>
      ep === 'https://a' && aDown ? Promise.reject(new Error('down')) : Promise.resolve(ep);
    await p.run(call);
    await p.run(call);
    await p.run(call);
    expect(p.endpoints.find((e) => e.id === 'https://a')!.healthy).toBe(false);
    const picks = await Promise.all(Array.from({ length: 4 }, () => p.run(call)));
    expect(new Set(picks)).toEqual(new Set(['https://b']));
    clock.tick(999);
    expect(p.pick(undefined)?.id).toBe('https://b');
    clock.tick(1);
    aDown = false;
    const after = await Promise.all(Array.from({ length: 4 }, () => p.run(call)));
    expect(after).toContain('https://a');
    expect(p.endpoints.find((e) => e.id === 'https://a')!.healthy).toBe(true);
  });

  it('reports unavailable when every endpoint fails', async () => {
    const p = pool();
    await expect(p.run(() => Promise.reject(new Error('down')))).rejects.toMatchObject({
      key: 'UNAVAILABLE',
    });
  });

  it('active health checks mark endpoints up and down', async () => {
    const clock = new ManualClock();
    let up = false;
    const p = pool(clock, { healthCheck: async (ep) => ep === 'https://b' || up, failureThreshold: 1 });
    await p.probe();
    expect(p.endpoints.map((e) => e.healthy)).toEqual([false, true]);
    up = true;
    await p.probe();
    expect(p.endpoints.map((e) => e.healthy)).toEqual([true, true]);
    p.close();
  });
});
