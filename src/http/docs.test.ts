import swagger from '@fastify/swagger';
import { Type } from '@sinclair/typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, Metrics } from '../core/observability/index.ts';
import { docsRoutes, openApiOptions } from './docs.ts';
import { installErrorMapping } from './errors.ts';
import type { HttpApp } from './routes/types.ts';

/** Routes of every shape the document describes: params, query, body, responses, tags, hidden. */
function addRoutes(app: HttpApp): void {
  app.get('/healthz', { schema: { tags: ['system'], summary: 'Liveness' } }, async () => ({ status: 'ok' }));
  app.get(
    '/v1/channels/:channel/history',
    {
      schema: {
        tags: ['channels'],
        security: [{ bearer: [] }],
        params: Type.Object({ channel: Type.String({ maxLength: 255 }) }),
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
        response: { 200: Type.Object({ items: Type.Array(Type.Unknown()), epoch: Type.String() }) },
      },
    },
    async () => ({ items: [], epoch: 'e' }),
  );
  app.post(
    '/v1/publish',
    {
      schema: {
        tags: ['channels'],
        body: Type.Object({ channel: Type.String(), data: Type.Unknown() }),
        response: { 200: Type.Object({ offset: Type.Integer(), epoch: Type.String() }) },
      },
      config: { jsonDepth: 'per-item' },
    },
    async () => ({ offset: 1, epoch: 'e' }),
  );
  app.route({
    method: ['PUT', 'DELETE'],
    url: '/v1/things/:id',
    schema: { params: Type.Object({ id: Type.String() }) },
    handler: async () => ({}),
  });
  app.get('/dashboard', { schema: { hide: true } }, async () => 'page');
}

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** A server as createHttpServer wires it: the error mapping, then docsRoutes, then the routes. */
async function lazyDocs(): Promise<HttpApp> {
  const app = Fastify().withTypeProvider<TypeBoxTypeProvider>();
  apps.push(app);
  const metrics = new Metrics({ defaultMetrics: false });
  const logger = createLogger('silent');
  installErrorMapping(app, metrics, logger);
  docsRoutes(app, { version: '1.2.3', metrics, logger, routerOptions: { maxParamLength: 1024 } });
  addRoutes(app);
  await app.ready();
  return app;
}

/** What the server did before: @fastify/swagger registered on it, before the routes. */
async function eagerDocs(): Promise<FastifyInstance> {
  const app = Fastify().withTypeProvider<TypeBoxTypeProvider>();
  apps.push(app);
  await app.register(swagger, openApiOptions('1.2.3'));
  addRoutes(app);
  await app.ready();
  return app;
}

describe('docsRoutes', () => {
  it('serves the document @fastify/swagger makes of the same routes, JSON and YAML', async () => {
    const [lazy, eager] = await Promise.all([lazyDocs(), eagerDocs()]);
    const json = await lazy.inject('/openapi.json');
    expect(json.statusCode).toBe(200);
    expect(json.json()).toEqual(eager.swagger());
    expect(Object.keys(json.json<{ paths: object }>().paths)).toEqual([
      '/healthz',
      '/v1/channels/{channel}/history',
      '/v1/publish',
      '/v1/things/{id}',
    ]);
    expect((await lazy.inject('/docs/json')).json()).toEqual(eager.swagger());
    expect((await lazy.inject('/docs/yaml')).body).toBe(eager.swagger({ yaml: true }));
  });

  it('serves the Swagger UI under /docs, HEAD and conditional requests included', async () => {
    const app = await lazyDocs();
    const page = await app.inject('/docs/');
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('swagger');
    expect((await app.inject('/docs')).statusCode).toBe(200);
    const css = await app.inject('/docs/static/swagger-ui.css');
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const head = await app.inject({ method: 'HEAD', url: '/docs/static/swagger-ui.css' });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(css.headers['content-length']);
    expect(head.body).toBe('');
    const again = await app.inject({
      url: '/docs/static/swagger-ui.css',
      headers: { 'if-none-match': String(css.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
  });

  it('answers what the site does not have in the SPEC error shape', async () => {
    const app = await lazyDocs();
    const missing = await app.inject('/docs/static/nope.js');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({
      error: { code: 'not_found', message: 'no route GET /docs/static/nope.js' },
    });
    const outside = await app.inject('/docs/static/..%2f..%2fpackage.json');
    expect(outside.statusCode).toBe(404);
    expect(outside.json()).toEqual({
      error: { code: 'not_found', message: 'no route GET /docs/static/..%2f..%2fpackage.json' },
    });
  });

  it('answers concurrent first requests alike and closes the site with the server', async () => {
    const app = await lazyDocs();
    const [a, b] = await Promise.all([app.inject('/openapi.json'), app.inject('/docs/json')]);
    expect(a.body).toBe(b.body);
    await app.close();
    apps.splice(apps.indexOf(app), 1);
  });
});
