import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createLogger, Metrics } from '../core/observability/index.ts';
import { DependencyBreaker } from '../core/resilience/index.ts';
import { systemClock } from '../core/time/index.ts';
import { ChannelService } from './channels.ts';
import { createMemoryEngines } from './engines/memory/index.ts';
import type { Engines } from './engines/ports.ts';
import { GatewayMetrics } from './metrics.ts';

function service(engines: Engines) {
  const core = new Metrics({ defaultMetrics: false });
  const breaker = new DependencyBreaker(`engines:${engines.kind}`, {
    metrics: core,
    logger: createLogger('silent'),
  });
  const registry = new Registry();
  const metrics = new GatewayMetrics(registry);
  const svc = new ChannelService({ engines, breaker, metrics, clock: systemClock, historySize: 100 });
  return { svc, breaker, registry };
}

const memory = () =>
  createMemoryEngines({ clock: systemClock, historySize: 10, historyTtlMs: 0, historyMetaTtlMs: 60_000 });

describe('ChannelService.publish', () => {
  it('memory engines: in history before the promise settles, offsets in order, duration observed', async () => {
    const engines = memory();
    const { svc, breaker, registry } = service(engines);
    const a = svc.publish('chat:a', { n: 1 }, { user: 'u', client: 'c' }, 'ws');
    // Synchronous engine: the publication is stored (and fanned out) before the caller awaits.
    expect((await engines.history.read('chat:a', { limit: 10 })).publications).toHaveLength(1);
    const b = svc.publish('chat:a', { n: 2 }, undefined, 'http');
    expect((await a).offset).toBe(1);
    expect((await b).offset).toBe(2);
    const page = await engines.history.read('chat:a', { limit: 10 });
    expect(page.publications.map((p) => [p.offset, p.data, p.info, p.trace])).toEqual([
      [1, { n: 1 }, { user: 'u', client: 'c' }, undefined],
      [2, { n: 2 }, undefined, undefined],
    ]);
    const text = await registry.getSingleMetricAsString('backbeat_gateway_publish_duration_seconds');
    expect(text).toContain('_count{source="ws"} 1');
    expect(text).toContain('_count{source="http"} 1');
    breaker.shutdown();
    await engines.close();
  });

  it('an in-process engine that throws is a bug of that call (4500), never an outage (4503)', async () => {
    const engines = memory();
    const broken: Engines = {
      ...engines,
      publishSync: () => {
        throw new TypeError('boom');
      },
    };
    const { svc, breaker } = service(broken);
    for (let i = 0; i < 10; i++)
      await expect(svc.publish('chat:a', 1, undefined, 'ws')).rejects.toMatchObject({
        key: 'INTERNAL',
        wsCode: 4500,
      });
    expect(breaker.isOpen).toBe(false);
    breaker.shutdown();
    await engines.close();
  });

  it('engines without a synchronous publish (I/O) go through the breaker: failures become 4503', async () => {
    const engines = memory();
    const remote: Engines = {
      ...engines,
      kind: 'redis',
      publishSync: undefined,
      publish: () =>
        Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    };
    const { svc, breaker } = service(remote);
    await expect(svc.publish('chat:a', 1, undefined, 'ws')).rejects.toMatchObject({
      key: 'UNAVAILABLE',
      wsCode: 4503,
    });
    breaker.shutdown();
    await engines.close();
  });
});
