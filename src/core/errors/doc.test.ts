import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from './codes.ts';
import { renderErrorsDoc } from './doc.ts';
import { BackbeatError, RateLimitedError, toBackbeatError } from './errors.ts';

describe('error catalog', () => {
  it('docs/errors.md is generated from the catalog (run `npm run docs`)', () => {
    expect(readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8')).toBe(renderErrorsDoc());
  });

  it('names are unique; codes and statuses are in range', () => {
    const defs = Object.values(ErrorCodes);
    expect(new Set(defs.map((d) => d.name)).size).toBe(defs.length);
    for (const d of defs) {
      expect(d.ws === 1001 || (d.ws >= 4000 && d.ws <= 4999)).toBe(true);
      expect(d.http).toBeGreaterThanOrEqual(400);
      expect(d.http).toBeLessThan(600);
    }
  });

  it('has every code of SPEC §3', () => {
    const ws = new Set<number>(Object.values(ErrorCodes).map((d) => d.ws));
    for (const c of [4001, 4003, 4008, 4009, 4011, 4013, 4029, 4400, 4500, 4503, 1001])
      expect(ws.has(c)).toBe(true);
  });

  it('errors carry code, status, retriable and cause; unknown errors become INTERNAL', () => {
    const cause = new Error('boom');
    const e = toBackbeatError(cause);
    expect(e).toBeInstanceOf(BackbeatError);
    expect(e.key).toBe('INTERNAL');
    expect(e.cause).toBe(cause);
    expect([e.wsCode, e.httpStatus, e.retriable]).toEqual([4500, 500, true]);
    const r = new RateLimitedError(250);
    expect(toBackbeatError(r)).toBe(r);
    expect([r.wsCode, r.httpStatus, r.retriable, r.details]).toEqual([
      4029,
      429,
      true,
      { retryAfterMs: 250 },
    ]);
  });
});
