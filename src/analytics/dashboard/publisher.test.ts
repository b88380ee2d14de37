import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/observability/index.ts';
import { ManualClock } from '../../core/time/index.ts';
import { SystemPublisher, type SystemPublisherOptions } from './publisher.ts';

function capture() {
  const lines: Array<{ level: number; msg: string; channel?: string }> = [];
  const logger = createLogger(
    'debug',
    new Writable({
      write: (chunk: Buffer, _enc, cb) => (
        lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]),
        cb()
      ),
    }),
  );
  return { logger, lines };
}

const settle = () => new Promise((r) => setImmediate(r));

function setup(over: Partial<SystemPublisherOptions> = {}) {
  const clock = new ManualClock(1_000_000);
  const { logger, lines } = capture();
  const published: Array<{ channel: string; data: Record<string, unknown> }> = [];
  const pub = new SystemPublisher({
    publish: async (channel, data) => void published.push({ channel, data: data as Record<string, unknown> }),
    overview: async () => ({ events: { total: 3, perSecond: 1.5 }, activeUsers: 2 }),
    trending: async () => ({ tracks: [{ id: 't1', score: 2, plays: 2, uniqueListeners: 1 }], artists: [] }),
    metrics: () => ({ connections: 4, events_per_second: 1.5 }),
    clock,
    logger,
    intervalMs: 1000,
    ...over,
  });
  return { clock, pub, published, lines };
}

describe('SystemPublisher', () => {
  it('publishes {ts, ...snapshot} to system:overview, system:trending and system:metrics at once and every interval', async () => {
    const { clock, pub, published } = setup();
    pub.start();
    await settle();
    expect(published.map((p) => p.channel).sort()).toEqual([
      'system:metrics',
      'system:overview',
      'system:trending',
    ]);
    expect(published.find((p) => p.channel === 'system:overview')!.data).toEqual({
      ts: 1_000_000,
      events: { total: 3, perSecond: 1.5 },
      activeUsers: 2,
    });
    expect(published.find((p) => p.channel === 'system:metrics')!.data).toEqual({
      ts: 1_000_000,
      connections: 4,
      events_per_second: 1.5,
    });
    clock.tick(1000);
    await settle();
    clock.tick(1000);
    await settle();
    expect(published).toHaveLength(9);
    expect(published.at(-1)!.data['ts']).toBe(1_002_000);
    expect(pub.ticks).toBe(3);
    await pub.close();
    clock.tick(5000);
    await settle();
    expect(published).toHaveLength(9);
  });

  it('a failing source or publish is logged once per streak, never thrown, and the other feeds go on', async () => {
    let overviewFails = true;
    let publishFails = false;
    const published: string[] = [];
    const { clock, pub, lines } = setup({
      overview: async () => {
        if (overviewFails) throw new Error('analytics down');
        return { activeUsers: 1 };
      },
      publish: async (channel) => {
        if (publishFails) throw new Error('breaker open');
        published.push(channel);
      },
    });
    pub.start();
    await settle();
    for (let i = 0; i < 3; i++) {
      clock.tick(1000);
      await settle();
    }
    expect(published.filter((c) => c === 'system:metrics')).toHaveLength(4);
    expect(published.filter((c) => c === 'system:overview')).toHaveLength(0);
    expect(lines.filter((l) => l.level === 40)).toEqual([
      expect.objectContaining({ channel: 'system:overview', msg: expect.stringContaining('failed') }),
    ]);
    overviewFails = false;
    clock.tick(1000);
    await settle();
    expect(published.filter((c) => c === 'system:overview')).toHaveLength(1);
    expect(
      lines.some((l) => l.level === 30 && l.channel === 'system:overview' && l.msg.includes('recovered')),
    ).toBe(true);
    publishFails = true;
    clock.tick(1000);
    await settle();
    expect(lines.filter((l) => l.level === 40)).toHaveLength(4); // one per feed for the new streak
    await expect(pub.tick()).resolves.toBeUndefined();
    await pub.close();
  });

  it('never overlaps a slow tick; close waits for the one in flight', async () => {
    let calls = 0;
    let release!: () => void;
    const { clock, pub } = setup({
      trending: () => {
        calls++;
        return new Promise((r) => (release = () => r({ tracks: [], artists: [] })));
      },
    });
    pub.start();
    await settle();
    clock.tick(1000);
    clock.tick(1000);
    await settle();
    expect(calls).toBe(1);
    let closed = false;
    const closing = pub.close().then(() => (closed = true));
    await settle();
    expect(closed).toBe(false);
    release();
    await closing;
    expect(pub.ticks).toBe(1);
  });

  it('accepts a synchronous or asynchronous metrics source', async () => {
    const { pub, published } = setup({ metrics: async () => ({ dlq_size: 7 }) });
    await pub.tick();
    expect(published.find((p) => p.channel === 'system:metrics')!.data).toMatchObject({ dlq_size: 7 });
  });
});
