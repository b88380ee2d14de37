import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/time/index.ts';
import { ExpiryWheel } from './expiry.ts';

describe('ExpiryWheel', () => {
  it('expires at the second boundary: a moment before nothing, at it once', () => {
    const clock = new ManualClock(1_000_000);
    const expired: string[] = [];
    const wheel = new ExpiryWheel<{ name: string; expiryBucket: number }>(clock, (i) => expired.push(i.name));
    const a = { name: 'a', expiryBucket: 0 };
    const b = { name: 'b', expiryBucket: 0 };
    wheel.schedule(a, 1_005_000);
    wheel.schedule(b, 1_010_000);
    clock.set(1_004_999);
    expect(expired).toEqual([]);
    clock.set(1_005_250);
    expect(expired).toEqual(['a']);
    wheel.schedule(b, 1_020_000); // refresh moves it
    clock.set(1_015_000);
    expect(expired).toEqual(['a']);
    clock.set(1_020_250);
    expect(expired).toEqual(['a', 'b']);
    wheel.close();
  });

  it('remove cancels; long gaps and far-future buckets work', () => {
    const clock = new ManualClock(0);
    const expired: string[] = [];
    const wheel = new ExpiryWheel<{ name: string; expiryBucket: number }>(clock, (i) => expired.push(i.name));
    const a = { name: 'a', expiryBucket: 0 };
    const c = { name: 'c', expiryBucket: 0 };
    wheel.schedule(a, 3_000);
    wheel.remove(a);
    wheel.schedule(c, 2 * 3_600_000);
    clock.set(10_000);
    expect(expired).toEqual([]);
    clock.set(2 * 3_600_000 + 300);
    expect(expired).toEqual(['c']);
    wheel.close();
  });
});
