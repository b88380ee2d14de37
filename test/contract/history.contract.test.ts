/** The History contract (src/gateway/engines/ports.ts), for every engine. */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/time/index.ts';
import type { Engines } from '../../src/gateway/index.ts';
import { factories, type EngineOptions } from './engines.ts';

describe.each(factories)('History contract: $name', (factory) => {
  const open: Engines[] = [];
  const make = async (opts?: EngineOptions, clock = new ManualClock()) => {
    const e = await factory.create(clock, opts);
    open.push(e);
    return { e, clock, h: e.history };
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((e) => e.close()));
  });
  const pub = (data: unknown, ts: number) => ({ data, ts, info: { user: 'u', client: 'c' } });

  it('offsets start at 1 and grow by one per channel; channels are independent', async () => {
    const { h, clock } = await make();
    expect((await h.append('a:1', pub('x', clock.now()))).publication.offset).toBe(1);
    expect((await h.append('a:1', pub('y', clock.now()))).publication.offset).toBe(2);
    expect((await h.append('a:2', pub('z', clock.now()))).publication.offset).toBe(1);
    expect(await h.position('a:1')).toMatchObject({ offset: 2 });
  });

  it('the epoch is stable within a stream and returned by append, read and position', async () => {
    const { h, clock } = await make();
    const p0 = await h.position('a:e');
    const a = await h.append('a:e', pub(1, clock.now()));
    const r = await h.read('a:e', { limit: 10 });
    expect(a.epoch).toBe(p0.epoch);
    expect(r.position.epoch).toBe(p0.epoch);
    expect(p0.offset).toBe(0);
  });

  it('read without since: the latest `limit`, oldest first; limit 0 gives only the position', async () => {
    const { h, clock } = await make();
    for (let i = 1; i <= 5; i++) await h.append('a:r', pub(i, clock.now()));
    const r = await h.read('a:r', { limit: 3 });
    expect(r.publications.map((p) => p.data)).toEqual([3, 4, 5]);
    expect(r.publications[0]).toEqual({
      offset: 3,
      data: 3,
      ts: clock.now(),
      info: { user: 'u', client: 'c' },
    });
    expect(r.complete).toBe(true);
    expect(await h.read('a:r', { limit: 0 })).toMatchObject({ position: { offset: 5 }, publications: [] });
  });

  it('read with since: exactly what came after it, complete when nothing is missing', async () => {
    const { h, clock } = await make();
    for (let i = 1; i <= 5; i++) await h.append('a:s', pub(i, clock.now()));
    const { epoch } = await h.position('a:s');
    const r = await h.read('a:s', { since: { offset: 2, epoch }, limit: 10 });
    expect(r.publications.map((p) => p.offset)).toEqual([3, 4, 5]);
    expect(r.complete).toBe(true);
    expect(await h.read('a:s', { since: { offset: 5, epoch }, limit: 10 })).toMatchObject({
      publications: [],
      complete: true,
    });
  });

  it('complete is false for a foreign epoch, an offset above top, or a limit below what is missing', async () => {
    const { h, clock } = await make();
    for (let i = 1; i <= 5; i++) await h.append('a:c', pub(i, clock.now()));
    const { epoch } = await h.position('a:c');
    expect((await h.read('a:c', { since: { offset: 1, epoch: 'other' }, limit: 10 })).complete).toBe(false);
    expect((await h.read('a:c', { since: { offset: 9, epoch }, limit: 10 })).complete).toBe(false);
    const partial = await h.read('a:c', { since: { offset: 1, epoch }, limit: 2 });
    expect(partial.complete).toBe(false);
    expect(partial.publications.map((p) => p.offset)).toEqual([2, 3]);
  });

  it('the size bound evicts the oldest; recovering from an evicted offset is incomplete', async () => {
    const { h, clock } = await make({ historySize: 3 });
    for (let i = 1; i <= 6; i++) await h.append('a:z', pub(i, clock.now()));
    const { epoch } = await h.position('a:z');
    expect((await h.read('a:z', { limit: 10 })).publications.map((p) => p.offset)).toEqual([4, 5, 6]);
    const r = await h.read('a:z', { since: { offset: 1, epoch }, limit: 10 });
    expect(r.complete).toBe(false);
    expect(r.publications.map((p) => p.offset)).toEqual([4, 5, 6]);
    expect((await h.read('a:z', { since: { offset: 3, epoch }, limit: 10 })).complete).toBe(true);
  });

  it('publications expire after the TTL: ttl − 1 still there, ttl gone', async () => {
    const { h, clock } = await make({ historyTtlMs: 1000 });
    const t0 = clock.now();
    await h.append('a:t', pub(1, t0));
    clock.tick(999);
    expect((await h.read('a:t', { limit: 10 })).publications).toHaveLength(1);
    clock.tick(1);
    expect((await h.read('a:t', { limit: 10 })).publications).toHaveLength(0);
    const { epoch } = await h.position('a:t');
    expect((await h.read('a:t', { since: { offset: 0, epoch }, limit: 10 })).complete).toBe(false);
  });

  it('remove forgets the channel: a new epoch and offsets from 1', async () => {
    const { h, clock } = await make();
    const a = await h.append('a:x', pub(1, clock.now()));
    await h.remove('a:x');
    const b = await h.append('a:x', pub(2, clock.now()));
    expect(b.publication.offset).toBe(1);
    expect(b.epoch).not.toBe(a.epoch);
  });

  it('Engines.publish appends like history and the broker delivers it to a subscribed handler', async () => {
    const { e, clock } = await make();
    const got: Array<[string, number, string]> = [];
    e.broker.setHandler({
      onPublication: (ch, p, epoch) => got.push([ch, p.offset, epoch]),
      onJoin: () => undefined,
      onLeave: () => undefined,
      onControl: () => undefined,
      onResync: () => undefined,
    });
    await e.broker.subscribe('a:p');
    const r1 = await e.publish('a:p', pub('one', clock.now()));
    const r2 = await e.publish('a:p', pub('two', clock.now()));
    expect([r1.publication.offset, r2.publication.offset]).toEqual([1, 2]);
    await expect.poll(() => got.length).toBe(2);
    expect(got).toEqual([
      ['a:p', 1, r1.epoch],
      ['a:p', 2, r1.epoch],
    ]);
    expect((await e.history.read('a:p', { limit: 10 })).publications.map((p) => p.data)).toEqual([
      'one',
      'two',
    ]);
  });

  it('model: random appends and reads agree with an array model', async () => {
    const { h, clock } = await make({ historySize: 8 });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('append' as const), v: fc.integer() }),
            fc.record({
              op: fc.constant('read' as const),
              since: fc.integer({ min: 0, max: 20 }),
              limit: fc.integer({ min: 0, max: 12 }),
            }),
          ),
          { maxLength: 25 },
        ),
        async (ops) => {
          const ch = `m:${++n}`;
          const model: number[] = [];
          for (const o of ops) {
            if (o.op === 'append') {
              model.push(o.v);
              await h.append(ch, pub(o.v, clock.now()));
            } else {
              const { epoch } = await h.position(ch);
              const top = model.length;
              const kept = model.map((v, i) => ({ offset: i + 1, v })).slice(-8);
              const r = await h.read(ch, { since: { offset: o.since, epoch }, limit: o.limit });
              if (o.since > top) {
                expect(r.complete).toBe(false);
                continue;
              }
              const after = kept.filter((k) => k.offset > o.since).slice(0, o.limit);
              expect(r.publications.map((p) => [p.offset, p.data])).toEqual(
                after.map((k) => [k.offset, k.v]),
              );
              const oldest = kept[0]?.offset ?? top + 1;
              expect(r.complete).toBe(oldest <= o.since + 1 && top - o.since <= o.limit);
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
