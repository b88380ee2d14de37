/** `GET /v1/analytics/alerts` (src/http/routes/alerts.ts) over the real AlertService, injected (no socket). */
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHs256, TokenVerifier } from '../../core/auth/index.ts';
import { createLogger, Metrics } from '../../core/observability/index.ts';
import { ManualClock } from '../../core/time/index.ts';
import { installErrorMapping } from '../../http/errors.ts';
import { alertRoutes } from '../../http/routes/alerts.ts';
import { AlertService, type Sample } from './service.ts';

const SECRET = 'alerts-route-test-secret-0123456789';
const clock = new ManualClock(Date.UTC(2026, 0, 1));
const logger = createLogger('silent');
let p99 = 900;
const service = new AlertService({
  rules: [{ name: 'p99 high', metric: 'http_p99_ms', op: '>', value: 500, forSeconds: 0 }],
  sample: (): Sample => ({
    connections: 1,
    events_per_second: 1,
    http_p99_ms: p99,
    http_error_rate: 0,
    event_lag: 0,
    dlq_size: 0,
  }),
  publish: async () => undefined,
  clock,
  logger,
  registry: new Registry(),
});
const app = Fastify();
const token = (scope?: string) =>
  signHs256(SECRET, { sub: 'ops', ...(scope ? { scope } : {}) }, 600, clock.now());

beforeAll(async () => {
  installErrorMapping(app, new Metrics({ defaultMetrics: false }), logger);
  alertRoutes(app, service, new TokenVerifier({ secret: SECRET, now: () => clock.now() }));
  await app.ready();
  await service.tick(); // opens
  clock.tick(1000);
  p99 = 10;
  await service.tick(); // resolves
  clock.tick(1000);
  p99 = 700;
  await service.tick(); // opens again
});
afterAll(async () => {
  await app.close();
  await service.close();
});

describe('GET /v1/analytics/alerts', () => {
  it('lists open and recent alerts, newest first, in the SPEC shape', async () => {
    const res = await app.inject({
      url: '/v1/analytics/alerts',
      headers: { authorization: `Bearer ${await token('analytics:read')}` },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ items: Array<Record<string, unknown>> }>();
    expect(body.items).toHaveLength(2);
    expect(body.items[0]).toEqual({
      id: expect.any(String),
      name: 'p99 high',
      kind: 'threshold',
      metric: 'http_p99_ms',
      state: 'open',
      value: 700,
      openedAt: '2026-01-01T00:00:02.000Z',
    });
    expect(body.items[1]).toMatchObject({
      state: 'resolved',
      value: 900,
      openedAt: '2026-01-01T00:00:00.000Z',
      resolvedAt: '2026-01-01T00:00:01.000Z',
    });
  });

  it('needs a token (401) with analytics:read (403)', async () => {
    const none = await app.inject({ url: '/v1/analytics/alerts' });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    const wrong = await app.inject({
      url: '/v1/analytics/alerts',
      headers: { authorization: `Bearer ${await token('push:send')}` },
    });
    expect(wrong.statusCode).toBe(403);
    const admin = await app.inject({
      url: '/v1/analytics/alerts',
      headers: { authorization: `Bearer ${await token('admin')}` },
    });
    expect(admin.statusCode).toBe(200);
  });
});
