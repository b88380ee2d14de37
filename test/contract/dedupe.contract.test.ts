/**
 * The DedupeWindow contract (src/streaming/log/dedupe.ts) on every engine: the embedded
 * SQLite window (IdWindow in memory, persisted) and the cluster window in Redis. A claim
 * is followed by `commit` once the append is durable, as DedupedEventLog does; engines
 * shared by nodes are opened twice, standing for two nodes. Then DedupedEventLog over a
 * real log: a failed append leaves no trace, a Redis outage refuses the batch (503).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/core/errors/index.ts';
import { createLogger } from '../../src/core/observability/index.ts';
import { connectRedis, waitReady } from '../../src/gateway/engines/redis/index.ts';
import type { DedupeWindow } from '../../src/streaming/log/dedupe.ts';
import { DedupedEventLog } from '../../src/streaming/log/deduped-log.ts';
import { SqliteEventLog, type EventLog, type LogRecord } from '../../src/streaming/log/index.ts';
import { RedisDedupeWindow } from '../../src/streaming/log/redis-dedupe.ts';
import { dedupeFactories, REDIS_URL, type DedupeOptions, type Space } from './streaming-stores.ts';

/** Claim, then commit what was new (the append went in). */
async function accept(w: DedupeWindow, ids: readonly string[]): Promise<boolean[]> {
  const dup = await w.claim(ids);
  await w.commit?.([...new Set(ids.filter((_, i) => !dup[i]))]);
  return dup;
}

describe.each(dedupeFactories)('DedupeWindow contract: $name', (factory) => {
  const spaces: Array<Space<DedupeWindow, DedupeOptions>> = [];
  afterEach(async () => {
    await Promise.all(spaces.splice(0).map((s) => s.dispose()));
  });
  const space = async () => {
    const s = await factory.space();
    spaces.push(s);
    return s;
  };
  const open = async (opts: DedupeOptions = {}) => (await space()).open(opts);

  it('new ids are not duplicates; repeats are, also within one call', async () => {
    const w = await open();
    expect(await accept(w, ['a', 'b', 'a'])).toEqual([false, false, true]);
    expect(await accept(w, ['b', 'c'])).toEqual([true, false]);
    expect(await accept(w, [])).toEqual([]);
  });

  it('a released id (its append failed) is new again: a retry is not a duplicate', async () => {
    const w = await open();
    expect(await w.claim(['x', 'y'])).toEqual([false, false]);
    await w.release(['x', 'y']);
    expect(await accept(w, ['x', 'y'])).toEqual([false, false]);
    expect(await accept(w, ['x'])).toEqual([true]);
  });

  it('an id is remembered for ttlMs: one tick before it is a duplicate, at the boundary it is new again', async () => {
    let now = 1_000_000;
    const w = await open({ ttlMs: 1000, now: () => now });
    await accept(w, ['x']);
    now += 999;
    expect(await accept(w, ['x'])).toEqual([true]);
    now += 1;
    expect(await accept(w, ['x'])).toEqual([false]); // expired: claimed anew
    expect(await accept(w, ['x'])).toEqual([true]);
  });

  it('keeps at most maxIds: the oldest go first', async () => {
    let now = 1_000_000;
    const w = await open({ maxIds: 1000, now: () => now++ });
    for (let b = 0; b < 12; b++)
      await accept(
        w,
        Array.from({ length: 1000 }, (_, i) => `b${b}-${i}`),
      );
    expect(await accept(w, ['b0-0'])).toEqual([false]); // pushed out: new again
    expect(await accept(w, ['b11-999'])).toEqual([true]);
  });

  it('property: equals a set of accepted ids, whatever the mix of accepted and failed appends', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            ids: fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f:1', 'g.2', 'h@3'), { maxLength: 6 }),
            appended: fc.boolean(),
          }),
          { maxLength: 15 },
        ),
        async (ops) => {
          const s = await factory.space();
          try {
            const w = await s.open({});
            const model = new Set<string>();
            for (const op of ops) {
              const seen = new Set<string>();
              const want = op.ids.map((id) => {
                const dup = model.has(id) || seen.has(id);
                seen.add(id);
                return dup;
              });
              const dup = await w.claim(op.ids);
              expect(dup).toEqual(want);
              const fresh = [...new Set(op.ids.filter((_, i) => !dup[i]))];
              if (op.appended) {
                await w.commit?.(fresh);
                fresh.forEach((id) => model.add(id));
              } else await w.release(fresh);
            }
          } finally {
            await s.dispose();
          }
        },
      ),
      { numRuns: 20 },
    );
  });

  if (factory.sharedByNodes) {
    describe('shared by nodes', () => {
      it('an id accepted by one node is a duplicate on the other', async () => {
        const s = await space();
        const a = await s.open({});
        const b = await s.open({});
        expect(await accept(a, ['e1', 'e2'])).toEqual([false, false]);
        expect(await accept(b, ['e2', 'e3'])).toEqual([true, false]);
        expect(await accept(a, ['e3'])).toEqual([true]);
      });

      it('an id whose append is in flight on one node: the other waits for the outcome, then answers', async () => {
        const s = await space();
        const a = await s.open({});
        const b = await s.open({ inFlightWaitMs: 10_000 });
        expect(await a.claim(['p', 'q'])).toEqual([false, false]);
        // The append of p succeeds, that of q fails: b learns p is a duplicate and may take q.
        const onB = b.claim(['p', 'q']);
        await new Promise((r) => setTimeout(r, 30));
        await a.commit?.(['p']);
        await a.release(['q']);
        expect(await onB).toEqual([true, false]);
      });

      it('still in flight after the wait: 503 (UnavailableError), and what the call claimed is released', async () => {
        const s = await space();
        const a = await s.open({});
        const b = await s.open({ inFlightWaitMs: 50 });
        await a.claim(['busy']);
        await expect(b.claim(['fresh', 'busy'])).rejects.toBeInstanceOf(UnavailableError);
        // 'fresh' was released by b: a may take it.
        expect(await a.claim(['fresh'])).toEqual([false]);
      });
    });
  }
});

describe('DedupedEventLog (cluster-wide dedupe in front of the log)', () => {
  const logger = createLogger('silent');
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });
  const rec = (id: string): LogRecord => ({
    id,
    key: 'u1',
    ts: 1_700_000_000_000,
    body: JSON.stringify({ id }),
  });

  async function setup(redisUrl = REDIS_URL) {
    const dir = mkdtempSync(join(tmpdir(), 'bb-deduped-'));
    cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
    const redis = connectRedis({
      url: redisUrl,
      failFast: true,
      connectionName: 'backbeat-test',
      cluster: false,
    });
    cleanup.push(() => redis.quit().catch(() => redis.disconnect()));
    const prefix = `t-${Math.random().toString(36).slice(2)}:`;
    const window = new RedisDedupeWindow({ redis, prefix, inFlightWaitMs: 50 });
    const inner = new SqliteEventLog(join(dir, 'events.db'));
    let failNext = false;
    const flaky: EventLog = {
      kind: inner.kind,
      start: () => inner.start(),
      append: async (records) => {
        if (failNext) {
          failNext = false;
          throw new UnavailableError('disk gone');
        }
        return inner.append(records);
      },
      consume: (g, h, o) => inner.consume(g, h, o),
      heads: () => inner.heads(),
      readKey: (k, o) => inner.readKey(k, o),
      eraseKey: (k) => inner.eraseKey(k),
      health: () => inner.health(),
      close: () => inner.close(),
    };
    const log = new DedupedEventLog({
      log: flaky,
      dedupe: window,
      logger,
      ready: () => waitReady(redis, 2000),
    });
    cleanup.push(() => log.close());
    return { log, inner, redis, failAppend: () => (failNext = true) };
  }

  it('a failed append is released (a retry goes in); a repeat after success is a duplicate', async () => {
    const { log, inner, failAppend } = await setup();
    await log.start();
    failAppend();
    await expect(log.append([rec('r1'), rec('r2')])).rejects.toBeInstanceOf(UnavailableError);
    expect(await inner.heads()).toEqual({});
    const ok = await log.append([rec('r1'), rec('r2'), rec('r1')]);
    expect(ok.map((r) => r.duplicate)).toEqual([false, false, true]);
    expect((await log.append([rec('r2')]))[0]).toMatchObject({ duplicate: true, offset: -1 });
    expect(await inner.heads()).toEqual({ 0: 2 });
  });

  it('Redis down: the batch is refused with UnavailableError and nothing is appended', async () => {
    const { log, inner, redis } = await setup();
    await log.start();
    await log.append([rec('before')]);
    redis.disconnect(); // fail-fast connection: no offline queue
    await expect(log.append([rec('during')])).rejects.toBeInstanceOf(UnavailableError);
    await expect.poll(() => log.health().ok).toBe(false);
    expect(await inner.heads()).toEqual({ 0: 1 });
  });
});
