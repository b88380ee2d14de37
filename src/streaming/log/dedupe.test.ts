import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdWindow, SqliteDedupeWindow } from './dedupe.ts';

describe('IdWindow', () => {
  it('holds exactly the ids whose latest add is among the last `max` adds and was not deleted since (fuzzed against a model)', () => {
    const op = fc.oneof(
      fc.record({
        k: fc.constant('add' as const),
        id: fc.integer({ min: 0, max: 12 }),
        at: fc.integer({ min: 0, max: 5 }),
      }),
      fc.record({ k: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 12 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 80 }), (max, ops) => {
        const w = new IdWindow(max);
        const adds: Array<{ id: string; at: number }> = [];
        const deletedAfter = new Map<string, number>(); // id → number of adds when last deleted
        for (const o of ops) {
          if (o.k === 'add') {
            w.add(`e${o.id}`, o.at);
            adds.push({ id: `e${o.id}`, at: o.at });
          } else {
            w.delete(`e${o.id}`);
            deletedAfter.set(`e${o.id}`, adds.length);
          }
        }
        for (let id = 0; id <= 12; id++) {
          const key = `e${id}`;
          const latest = adds.findLastIndex((a) => a.id === key);
          const inWindow =
            latest >= 0 && latest >= adds.length - max && (deletedAfter.get(key) ?? -1) <= latest;
          for (const since of [-Infinity, 0, 3, 6]) {
            expect(w.has(key, since)).toBe(inWindow && adds[latest]!.at >= since);
          }
        }
        expect(w.size).toBeLessThanOrEqual(max);
      }),
    );
  });
});

describe('SqliteDedupeWindow', () => {
  it('marks new ids, reports repeats (also within one call and across chunks), forgets released ids', async () => {
    const w = new SqliteDedupeWindow(':memory:');
    expect(await w.claim(['a', 'b', 'a'])).toEqual([false, false, true]);
    const many = Array.from({ length: 250 }, (_, i) => `id-${i % 240}`);
    const res = await w.claim(['b', ...many]);
    expect(res[0]).toBe(true);
    expect(res.slice(1).filter((d) => !d)).toHaveLength(240);
    expect(res.slice(241)).toEqual(Array(10).fill(true));
    await w.release(['a']);
    expect(await w.claim(['a'])).toEqual([false]);
    await w.close();
  });

  it('an id is remembered for ttlMs: one tick before it is a duplicate, at the boundary it is new again', async () => {
    let now = 1_000_000;
    const w = new SqliteDedupeWindow(':memory:', { ttlMs: 1000, now: () => now });
    await w.claim(['x']);
    now += 999;
    expect(await w.claim(['x'])).toEqual([true]);
    now += 1;
    expect(await w.claim(['x'])).toEqual([false]); // expired claim renewed
    expect(await w.claim(['x'])).toEqual([true]);
    await w.close();
  });

  it('keeps at most maxIds (the oldest go first)', async () => {
    const w = new SqliteDedupeWindow(':memory:', { maxIds: 1000 });
    for (let b = 0; b < 12; b++) await w.claim(Array.from({ length: 1000 }, (_, i) => `b${b}-${i}`));
    expect(await w.claim(['b0-0'])).toEqual([false]); // pruned: new again
    expect(await w.claim(['b11-999'])).toEqual([true]);
    await w.close();
  });
});

describe('SqliteDedupeWindow persistence', () => {
  it('claims and releases survive reopening the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bb-dedupe-'));
    const path = join(dir, 'd.db');
    const a = new SqliteDedupeWindow(path);
    await a.claim(['keep', 'drop']);
    await a.release(['drop']);
    await a.close();
    const b = new SqliteDedupeWindow(path);
    expect(await b.claim(['keep', 'drop'])).toEqual([true, false]);
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
