import { describe, expect, it } from 'vitest';
import { BadRequestError } from '../errors/index.ts';
import { createLogger, Metrics } from '../observability/index.ts';
import { DependencyBreaker } from './breaker.ts';

const deps = () => ({ metrics: new Metrics({ defaultMetrics: false }), logger: createLogger('silent') });

describe('DependencyBreaker', () => {
  it('opens after failures and then fails fast with 4503; closes again after the reset timeout', async () => {
    const d = deps();
    const b = new DependencyBreaker('redis', d, {
      volumeThreshold: 3,
      errorThresholdPercentage: 50,
      resetTimeoutMs: 200,
    });
    let up = false;
    let calls = 0;
    const call = () =>
      b.call(async () => {
        calls++;
        if (!up) throw new Error('ECONNREFUSED');
        return 'ok';
      });
    for (let i = 0; i < 3; i++)
      await expect(call()).rejects.toMatchObject({ key: 'UNAVAILABLE', wsCode: 4503, httpStatus: 503 });
    expect(b.isOpen).toBe(true);
    const before = calls;
    await expect(call()).rejects.toThrow('circuit open');
    expect(calls).toBe(before); // failed fast, the dependency was not called
    expect(await d.metrics.registry.getSingleMetricAsString('backbeat_core_breaker_open')).toContain(
      'dependency="redis"} 1',
    );
    up = true;
    await new Promise((r) => setTimeout(r, 250));
    expect(await call()).toBe('ok');
    expect(b.isOpen).toBe(false);
    b.shutdown();
  });

  it("caller errors (non-retriable catalog errors) don't count and pass through unchanged", async () => {
    const b = new DependencyBreaker('x', deps(), { volumeThreshold: 1 });
    for (let i = 0; i < 5; i++)
      await expect(b.call(() => Promise.reject(new BadRequestError('bad')))).rejects.toBeInstanceOf(
        BadRequestError,
      );
    expect(b.isOpen).toBe(false);
    b.shutdown();
  });

  it('programming errors (a hostile input our code choked on) are 4500 for that call and never open the breaker', async () => {
    const b = new DependencyBreaker('engines', deps(), { volumeThreshold: 1, errorThresholdPercentage: 1 });
    const deep: unknown = JSON.parse('['.repeat(20_000) + ']'.repeat(20_000));
    for (let i = 0; i < 10; i++) {
      await expect(b.call(async () => JSON.stringify(deep))).rejects.toMatchObject({
        key: 'INTERNAL',
        wsCode: 4500,
      });
    }
    expect(b.isOpen).toBe(false);
    expect(await b.call(async () => 'ok')).toBe('ok');
    b.shutdown();
  });
});
