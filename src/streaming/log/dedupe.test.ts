import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteDedupeWindow } from './dedupe.ts';

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
