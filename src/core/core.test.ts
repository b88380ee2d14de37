import { describe, expect, it } from 'vitest';
import { compileGlobs } from './auth/index.ts';
import { runAll, StateMachine } from './lifecycle/index.ts';
import { ManualClock } from './time/index.ts';
import { SlidingWindowLog } from '../gateway/engines/memory/index.ts';

describe('channel globs', () => {
  it('* matches any run (colons too), ? one character, the rest is literal', () => {
    const m = compileGlobs(['chat:*', 'room:a?', 'exact:x.y']);
    expect(['chat:a', 'chat:a:b', 'room:ab', 'exact:x.y'].every(m)).toBe(true);
    expect(['news:a', 'room:abc', 'exact:xzy', 'chat'].some(m)).toBe(false);
    expect(compileGlobs([])('chat:a')).toBe(false);
    expect(compileGlobs(['*'])('anything:at-all')).toBe(true);
    expect(compileGlobs(['a+b:(x)'])('a+b:(x)')).toBe(true);
  });
});

describe('ManualClock', () => {
  it('fires timers in order only when time moves', () => {
    const c = new ManualClock(0);
    const fired: string[] = [];
    c.setTimeout(() => fired.push('b@20'), 20);
    c.setTimeout(() => fired.push('a@10'), 10);
    const t = c.setTimeout(() => fired.push('never'), 15);
    t.cancel();
    c.setInterval(() => fired.push(`i@${c.now()}`), 8);
    c.tick(9);
    expect(fired).toEqual(['i@8']);
    c.tick(11);
    expect(fired).toEqual(['i@8', 'a@10', 'i@16', 'b@20']);
    expect(c.now()).toBe(20);
  });
});

describe('SlidingWindowLog', () => {
  it('limit − 1: allowed; limit: refused until the oldest leaves the window', () => {
    const w = new SlidingWindowLog();
    const rule = { limit: 3, windowMs: 1000 };
    expect(w.consume(0, rule).allowed).toBe(true);
    expect(w.consume(400, rule).allowed).toBe(true);
    expect(w.consume(800, rule)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
    expect(w.consume(999, rule)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 1 });
    expect(w.consume(1000, rule).allowed).toBe(true);
    expect(w.consume(1001, rule)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 399 });
  });
});

describe('StateMachine and runAll', () => {
  it('allows only declared transitions and notifies listeners', () => {
    const m = new StateMachine<'a' | 'b' | 'c'>('t', 'a', { a: ['b'], b: ['c'], c: [] });
    const seen: string[] = [];
    m.onChange((to, from) => seen.push(`${from}>${to}`));
    expect(m.set('c')).toBe(false);
    expect(m.set('b')).toBe(true);
    expect(m.set('b')).toBe(true);
    expect(m.is('b', 'c')).toBe(true);
    expect(m.set('c')).toBe(true);
    expect(seen).toEqual(['a>b', 'b>c']);
  });

  it('runAll runs every step even when one fails, then throws the first failure', async () => {
    const ran: string[] = [];
    await expect(
      runAll([
        ['one', () => ran.push('one')],
        ['two', () => Promise.reject(new Error('two failed'))],
        ['three', () => ran.push('three')],
      ]),
    ).rejects.toThrow('two failed');
    expect(ran).toEqual(['one', 'three']);
  });
});
