import { describe, expect, it } from 'vitest';
import { Metrics } from '../../core/observability/index.ts';
import { HttpMetrics } from '../../http/index.ts';
import { ManualClock } from '../../core/time/index.ts';
import { StreamingMetrics } from '../../streaming/index.ts';
import { histogramQuantile, seriesSampler } from './sampler.ts';

function setup(dlqSize: () => Promise<number> | number = () => 3) {
  const core = new Metrics({ defaultMetrics: false });
  const metrics = new HttpMetrics(core);
  const streaming = new StreamingMetrics(core.registry);
  const clock = new ManualClock(1_000_000);
  let connections = 12;
  const sample = seriesSampler({
    registry: core.registry,
    connections: () => connections,
    eventLag: () => 40,
    dlqSize,
    clock,
  });
  return { metrics, streaming, clock, sample, setConnections: (n: number) => (connections = n) };
}

describe('seriesSampler', () => {
  it('reads gauges at once; rates and p99 need an interval (NaN on the first call)', async () => {
    const { sample } = setup();
    expect(await sample()).toEqual({
      connections: 12,
      events_per_second: NaN,
      http_p99_ms: NaN,
      http_error_rate: NaN,
      event_lag: 40,
      dlq_size: 3,
    });
  });

  it('events/s from the accepted-events counter delta over the interval', async () => {
    const { streaming, clock, sample } = setup();
    streaming.ingested.labels('http', 'accepted').inc(1000); // before the first sample: not in any interval
    await sample();
    streaming.ingested.labels('http', 'accepted').inc(30);
    streaming.ingested.labels('ws', 'accepted').inc(10);
    streaming.ingested.labels('http', 'rejected').inc(500); // not events
    clock.tick(2000);
    expect((await sample()).events_per_second).toBe(20);
    clock.tick(1000);
    expect((await sample()).events_per_second).toBe(0);
  });

  it('p99 from the latency histogram bucket deltas of the interval, summed over routes', async () => {
    const { metrics, clock, sample } = setup();
    for (let i = 0; i < 1000; i++) metrics.httpDuration.labels('/old').observe(2); // history: not this interval
    await sample();
    // 100 requests: 98 at 3 ms, 2 at 180 ms (bucket 0.1–0.25 s) on two routes.
    for (let i = 0; i < 98; i++) metrics.httpDuration.labels(i % 2 ? '/a' : '/b').observe(0.003);
    metrics.httpDuration.labels('/a').observe(0.18);
    metrics.httpDuration.labels('/b').observe(0.18);
    clock.tick(1000);
    const s = await sample();
    // Rank 99 of 100 is the first of the 2 in (0.1, 0.25]: 0.1 + 0.15 × (99 − 98) / 2 s.
    expect(s.http_p99_ms).toBeCloseTo(175, 6);
    clock.tick(1000);
    expect((await sample()).http_p99_ms).toBeNaN(); // no request finished: unknown
  });

  it('error rate: 5xx over all requests of the interval; 0 without requests', async () => {
    const { metrics, clock, sample } = setup();
    metrics.httpRequests.labels('/x', 'GET', '500').inc(50);
    await sample();
    metrics.httpRequests.labels('/x', 'GET', '200').inc(90);
    metrics.httpRequests.labels('/x', 'GET', '404').inc(5);
    metrics.httpRequests.labels('/x', 'POST', '503').inc(3);
    metrics.httpRequests.labels('/y', 'GET', '500').inc(2);
    clock.tick(1000);
    expect((await sample()).http_error_rate).toBeCloseTo(0.05, 10);
    clock.tick(1000);
    expect((await sample()).http_error_rate).toBe(0);
  });

  it('a counter reset counts from zero; a failing dlq read is NaN, not a throw', async () => {
    const { streaming, clock, sample } = setup(() => Promise.reject(new Error('sqlite busy')));
    streaming.ingested.labels('http', 'accepted').inc(100);
    await sample();
    streaming.ingested.reset();
    streaming.ingested.labels('http', 'accepted').inc(7);
    clock.tick(1000);
    const s = await sample();
    expect(s.events_per_second).toBe(7);
    expect(s.dlq_size).toBeNaN();
  });

  it('works on a registry without the streaming or HTTP metrics', async () => {
    const { Registry } = await import('prom-client');
    const clock = new ManualClock();
    const sample = seriesSampler({
      registry: new Registry(),
      connections: () => 0,
      eventLag: () => 0,
      dlqSize: () => 0,
      clock,
    });
    await sample();
    clock.tick(1000);
    expect(await sample()).toEqual({
      connections: 0,
      events_per_second: 0,
      http_p99_ms: NaN,
      http_error_rate: 0,
      event_lag: 0,
      dlq_size: 0,
    });
  });
});

describe('histogramQuantile', () => {
  const b = (pairs: Array<[number, number]>) => pairs;
  it('interpolates inside the bucket holding the rank, like histogram_quantile', () => {
    expect(
      histogramQuantile(
        0.5,
        b([
          [1, 0],
          [2, 10],
          [Infinity, 10],
        ]),
      ),
    ).toBe(1.5);
    expect(
      histogramQuantile(
        0.99,
        b([
          [0.1, 50],
          [1, 100],
          [Infinity, 100],
        ]),
      ),
    ).toBeCloseTo(0.982, 10);
    expect(
      histogramQuantile(
        0.5,
        b([
          [0.1, 10],
          [Infinity, 10],
        ]),
      ),
    ).toBe(0.05);
  });
  it('the +Inf bucket answers the highest finite bound; no observations is NaN', () => {
    expect(
      histogramQuantile(
        0.99,
        b([
          [0.1, 0],
          [1, 0],
          [Infinity, 5],
        ]),
      ),
    ).toBe(1);
    expect(
      histogramQuantile(
        0.99,
        b([
          [0.1, 0],
          [Infinity, 0],
        ]),
      ),
    ).toBeNaN();
    expect(histogramQuantile(0.99, [])).toBeNaN();
  });
});
