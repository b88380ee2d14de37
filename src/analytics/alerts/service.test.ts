import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mulberry32 } from '../../core/random/index.ts';
import { createLogger } from '../../core/observability/index.ts';
import { ManualClock } from '../../core/time/index.ts';
import type { AlertRule } from './rules.ts';
import { AlertService, type AlertServiceOptions, type Sample } from './service.ts';

const base = (): Sample => ({
  connections: 100,
  events_per_second: 50,
  http_p99_ms: 20,
  http_error_rate: 0,
  event_lag: 0,
  dlq_size: 0,
});
const services: AlertService[] = [];
const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.close()));
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function setup(rules: AlertRule[], over: Partial<AlertServiceOptions> = {}) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const registry = new Registry();
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger(
    'info',
    new Writable({
      write: (c: Buffer, _e, cb) => (logs.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()),
    }),
  );
  let current = base();
  const published: Array<{ channel: string; data: Record<string, unknown> }> = [];
  const svc = new AlertService({
    rules,
    sample: () => current,
    publish: async (channel, data) => void published.push({ channel, data: data as Record<string, unknown> }),
    clock,
    logger,
    registry,
    ...over,
  });
  services.push(svc);
  /** One sample per second: advance the clock, then tick. */
  const step = async (patch: Partial<Sample> = {}) => {
    clock.tick(1000);
    current = { ...base(), ...patch };
    await svc.tick();
  };
  const metric = async (name: string) => (await registry.getSingleMetric(name)!.get()).values;
  return { svc, clock, step, published, logs, metric, registry };
}

const p99Rule: AlertRule = { name: 'p99 high', metric: 'http_p99_ms', op: '>', value: 500, forSeconds: 5 };

describe('AlertService: threshold rules', () => {
  it('opens only once the condition has held forSeconds, and resolves when it stops', async () => {
    const { svc, step, published, metric } = setup([p99Rule]);
    await step({ http_p99_ms: 900 }); // t0: starts holding
    for (let i = 0; i < 4; i++) await step({ http_p99_ms: 900 }); // held 4 s
    expect(svc.openCount()).toBe(0);
    await step({ http_p99_ms: 800 }); // held 5 s
    expect(svc.openCount()).toBe(1);
    const [opened] = svc.list().items;
    expect(opened).toMatchObject({
      name: 'p99 high',
      kind: 'threshold',
      metric: 'http_p99_ms',
      state: 'open',
      value: 800,
      openedAt: '2026-01-01T00:00:06.000Z',
    });
    expect(opened!.resolvedAt).toBeUndefined();
    await step({ http_p99_ms: 900 });
    expect(svc.list().items).toHaveLength(1); // still the same alert
    await step({ http_p99_ms: 20 });
    expect(svc.openCount()).toBe(0);
    expect(svc.list().items[0]).toMatchObject({
      id: opened!.id,
      state: 'resolved',
      resolvedAt: '2026-01-01T00:00:08.000Z',
    });
    await Promise.resolve();
    expect(published.map((p) => [p.channel, p.data.state])).toEqual([
      ['system:alerts', 'open'],
      ['system:alerts', 'resolved'],
    ]);
    expect(await metric('backbeat_alerts_open')).toMatchObject([{ value: 0 }]);
    const t = await metric('backbeat_alerts_transitions_total');
    expect(t.map((v) => [v.labels.kind, v.labels.state, v.value])).toEqual([
      ['threshold', 'open', 1],
      ['threshold', 'resolved', 1],
    ]);
  });

  it('a break in the condition restarts the count; unknown samples neither hold nor break it', async () => {
    const { svc, step } = setup([p99Rule]);
    for (let i = 0; i < 4; i++) await step({ http_p99_ms: 900 });
    await step({ http_p99_ms: 100 }); // break
    for (let i = 0; i < 5; i++) await step({ http_p99_ms: 900 });
    expect(svc.openCount()).toBe(0); // held 4 s since the break
    await step({ http_p99_ms: NaN }); // no request in that second: says nothing
    expect(svc.openCount()).toBe(0);
    await step({ http_p99_ms: 900 }); // held since 6 s, never broken
    expect(svc.openCount()).toBe(1);
    await step({ http_p99_ms: NaN }); // nor does an unknown sample resolve it
    expect(svc.openCount()).toBe(1);
  });

  it('forSeconds 0 opens on the first sample that holds; "<" rules work the same way', async () => {
    const { svc, step } = setup([
      { name: 'no traffic', metric: 'events_per_second', op: '<', value: 1, forSeconds: 0 },
      { name: 'dlq', metric: 'dlq_size', op: '>', value: 10, forSeconds: 0 },
    ]);
    await step({ events_per_second: 0 });
    expect(svc.list().items.map((a) => a.name)).toEqual(['no traffic']);
    await step({ events_per_second: 0, dlq_size: 11 });
    expect(svc.list().items.map((a) => `${a.name}:${a.state}`)).toEqual(['dlq:open', 'no traffic:open']); // newest first
  });

  it('keeps only keepResolved resolved alerts', async () => {
    const { svc, step } = setup([{ ...p99Rule, forSeconds: 0 }], { keepResolved: 2 });
    for (let i = 0; i < 5; i++) {
      await step({ http_p99_ms: 900 });
      await step();
    }
    await step({ http_p99_ms: 900 });
    const items = svc.list().items;
    expect(items.map((a) => a.state)).toEqual(['open', 'resolved', 'resolved']);
    expect(new Set(items.map((a) => a.id)).size).toBe(3);
  });

  it('logs each transition, structured', async () => {
    const { step, logs } = setup([{ ...p99Rule, forSeconds: 0 }]);
    await step({ http_p99_ms: 900 });
    await step();
    const events = logs.filter((l) => typeof l.event === 'string' && String(l.event).startsWith('alert.'));
    expect(events.map((l) => [l.event, l.level, (l.alert as { name: string }).name])).toEqual([
      ['alert.opened', 40, 'p99 high'],
      ['alert.resolved', 30, 'p99 high'],
    ]);
  });
});

describe('AlertService: anomalies', () => {
  it('watches every metric without a rule: a spike opens an anomaly alert, the return resolves it', async () => {
    const { svc, step, published } = setup([p99Rule]);
    const rng = mulberry32(9);
    const normal = (): Partial<Sample> => ({
      events_per_second: 200 + 10 * (rng() - 0.5),
      http_p99_ms: 20 + 400 * rng(),
    });
    for (let i = 0; i < 1200; i++) await step(normal()); // warm-up and history
    expect(svc.openCount()).toBe(0);
    for (let i = 0; i < 5; i++) await step({ ...normal(), events_per_second: 900 });
    const open = svc.list().items.filter((a) => a.state === 'open');
    expect(open).toEqual([
      expect.objectContaining({
        name: 'events_per_second anomaly',
        kind: 'anomaly',
        metric: 'events_per_second',
        value: 900,
      }),
    ]);
    for (let i = 0; i < 10; i++) await step(normal());
    expect(svc.openCount()).toBe(0);
    expect(svc.list().items[0]).toMatchObject({ kind: 'anomaly', state: 'resolved' });
    await Promise.resolve();
    expect(published.map((p) => `${String(p.data.name)}:${String(p.data.state)}`)).toEqual([
      'events_per_second anomaly:open',
      'events_per_second anomaly:resolved',
    ]);
    // http_p99_ms has a rule, so its wild noise (20–420 ms) is never an anomaly.
    expect(svc.list().items.every((a) => a.metric !== 'http_p99_ms')).toBe(true);
  });
});

describe('AlertService: resilience', () => {
  it('a failing publish or sample never throws out of tick; both are logged', async () => {
    let failSample = false;
    const { svc, step, logs } = setup([{ ...p99Rule, forSeconds: 0 }], {
      publish: () => Promise.reject(new Error('redis down')),
    });
    await step({ http_p99_ms: 900 });
    expect(svc.openCount()).toBe(1);
    await vi.waitFor(() =>
      expect(logs.some((l) => String(l.msg).includes('publishing on system:alerts failed'))).toBe(true),
    );

    const s2 = setup([], {
      sample: () => {
        if (failSample) throw new Error('registry gone');
        return base();
      },
    });
    failSample = true;
    await expect(s2.svc.tick()).resolves.toBeUndefined();
    await expect(s2.svc.tick()).resolves.toBeUndefined();
    expect(s2.logs.filter((l) => String(l.msg).includes('sampling the metrics failed'))).toHaveLength(1); // once per streak
  });

  it('a hanging webhook never blocks tick; alerts are listed and published meanwhile', async () => {
    let requests = 0;
    const server = createServer(() => void requests++); // never answers
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const { svc, step, published, metric } = setup([{ ...p99Rule, forSeconds: 0 }], {
      webhookUrl: url,
      webhook: { maxQueue: 2, timeoutMs: 60_000 },
    });
    for (let i = 0; i < 6; i++) {
      await step({ http_p99_ms: 900 });
      await step();
    }
    expect(svc.list().items).toHaveLength(12 / 2);
    await vi.waitFor(() => expect(requests).toBe(1)); // the first POST hangs; the rest wait
    expect(svc.webhookPending).toBe(2);
    await Promise.resolve();
    expect(published).toHaveLength(12);
    const outcomes = await metric('backbeat_alerts_webhook_total');
    expect(outcomes.find((v) => v.labels.outcome === 'dropped')?.value).toBe(12 - 1 - 2);
  });

  it('start() ticks on the clock, never overlapping a slow tick, and close() stops it', async () => {
    let samples = 0;
    let release: (() => void) | undefined;
    const { svc, clock } = setup([], {
      sample: async () => {
        samples++;
        if (samples === 2) await new Promise<void>((r) => (release = r)); // the 2nd sample is slow
        return base();
      },
      intervalMs: 1000,
    });
    const settle = () => new Promise((r) => setImmediate(r));
    svc.start();
    await settle();
    expect(samples).toBe(1);
    clock.tick(1000);
    await settle();
    expect(samples).toBe(2);
    clock.tick(1000); // the 2nd is still in flight: this one is skipped
    await settle();
    expect(samples).toBe(2);
    release!();
    await settle();
    clock.tick(1000);
    await settle();
    expect(samples).toBe(3);
    await svc.close();
    clock.tick(5000);
    await settle();
    expect(samples).toBe(3);
  });

  it('series(): recent samples in a bounded ring, oldest first, unknown values skipped', async () => {
    const { svc, step, clock } = setup([], { seriesPoints: 3 });
    const t0 = clock.now();
    for (const v of [1, 2, NaN, 3, 4]) await step({ connections: v });
    expect(svc.series('connections')).toEqual([
      [t0 + 2000, 2],
      [t0 + 4000, 3],
      [t0 + 5000, 4],
    ]);
    expect(svc.series('dlq_size')).toHaveLength(3);
    expect(svc.latest()?.connections).toBe(4);
  });
});
