import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  type RouteOptions,
} from 'fastify';
import type { Logger, Metrics } from '../core/observability/index.ts';
import { frameworkErrors } from './edge.ts';
import { installErrorMapping } from './errors.ts';
import type { HttpApp } from './routes/types.ts';

export interface DocsOptions {
  version: string;
  metrics: Pick<Metrics, 'errors'>;
  logger: Logger;
  /** The server's router options (path and parameter limits), so the site routes alike. */
  routerOptions: FastifyServerOptions['routerOptions'];
}

/** What @fastify/swagger builds the document with (also the reference in docs.test.ts). */
export function openApiOptions(version: string) {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Backbeat HTTP API',
        version,
        description: 'See docs/protocol.md for the WebSocket protocol (backbeat.v1) on GET /ws.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http' as const, scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  };
}

/**
 * The API description: `GET /openapi.json` (the OpenAPI 3.1 document of every route, from
 * the route schemas) and the Swagger UI under `/docs`, built on the first request for
 * either. @fastify/swagger and @fastify/swagger-ui (with @fastify/static, yaml, glob…)
 * are ~2.5 MiB of idle RSS that a node nobody reads the docs of never needs
 * (docs/operations.md, "Memory"), and Fastify takes no routes once started. So this
 * records the routes the server registers after it (call it before them), and the first
 * request builds the documentation site: a second Fastify instance, never listening, with
 * both plugins and the same routes (method, URL, schema, config: what the document is made
 * of), whose handlers are never called and whose schemas compile to no validator or
 * serializer. `/openapi.json` answers with the site's document; the site answers every
 * `/docs` request itself, on this request's socket. Measured (`bash scripts/start.sh`):
 * the first `GET /openapi.json` takes ~80 ms instead of ~25, the first `/docs/` ~70 ms
 * instead of ~10, once; a node whose docs were read holds ~4 MiB more than it did (the
 * second instance, and the young generation that building it grew).
 */
export function docsRoutes(app: HttpApp, opts: DocsOptions): void {
  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (route) => {
    // Hidden routes (these, the dashboard's…) are not in the document, nor are the HEAD
    // twins of GET routes (@fastify/swagger's default): the site makes its own.
    if (route.method !== 'HEAD' && route.schema?.hide !== true) routes.push(route);
  });
  let site: Promise<FastifyInstance> | undefined;
  const docs = (): Promise<FastifyInstance> =>
    (site ??= buildSite(routes, opts).catch((err: unknown) => {
      site = undefined;
      throw err;
    }));
  app.addHook('onClose', async () => {
    if (site) await (await site.catch(() => undefined))?.close();
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => (await docs()).swagger());
  // The site answers on this request's own socket, as the plugins' routes did on this
  // server (files streamed, HEAD and conditional requests, path checks, errors in the SPEC
  // shape); this server's onResponse hook still counts the request (route `/docs/*`).
  const forward = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const docsSite = await docs();
    void reply.hijack();
    docsSite.routing(req.raw, reply.raw);
  };
  app.get('/docs', { schema: { hide: true } }, forward);
  app.get('/docs/*', { schema: { hide: true } }, forward);
}

async function buildSite(routes: readonly RouteOptions[], opts: DocsOptions): Promise<FastifyInstance> {
  const [{ default: swagger }, { default: swaggerUi }] = await Promise.all([
    import('@fastify/swagger'),
    import('@fastify/swagger-ui'),
  ]);
  const site = Fastify({ routerOptions: opts.routerOptions, frameworkErrors });
  // The routes are there to be described, never called: nothing to validate or serialize.
  site.setValidatorCompiler(() => () => true);
  site.setSerializerCompiler(() => (data) => JSON.stringify(data));
  installErrorMapping(site, opts.metrics, opts.logger);
  await site.register(swagger, openApiOptions(opts.version));
  await site.register(swaggerUi, { routePrefix: '/docs' });
  const described = (): never => {
    throw new Error('documentation only');
  };
  for (const r of routes)
    site.route({ method: r.method, url: r.url, schema: r.schema, config: r.config, handler: described });
  await site.ready();
  return site;
}
