import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { TokenVerifier } from '../core/auth/index.ts';
import type { Logger, Metrics } from '../core/observability/index.ts';
import type { Gateway } from '../gateway/index.ts';
import type { StreamingService } from '../streaming/index.ts';
import type { PushService } from '../push/index.ts';
import { ErrorCodes, rawErrorResponse } from '../core/errors/index.ts';
import { createHttpAjv } from '../core/json/index.ts';
import { docsRoutes } from './docs.ts';
import { clientErrorHandler, frameworkErrors, installEdge, type EdgeLimits } from './edge.ts';
import { installErrorMapping } from './errors.ts';
import { HttpMetrics } from './metrics.ts';
import { channelRoutes } from './routes/channels.ts';
import { eventRoutes } from './routes/events.ts';
import { pushRoutes } from './routes/push.ts';
import { analyticsRoutes } from './routes/analytics.ts';
import { alertRoutes } from './routes/alerts.ts';
import { dashboardRoutes } from './routes/dashboard.ts';
import { gdprRoutes, type GdprApi } from './routes/gdpr.ts';
import type { AlertService, AnalyticsService } from '../analytics/index.ts';
import { systemRoutes, type SystemDeps } from './routes/system.ts';

export interface HttpDeps extends SystemDeps {
  gateway: Gateway;
  streaming: StreamingService;
  push: PushService;
  analytics: AnalyticsService;
  alerts: AlertService;
  gdpr: GdprApi;
  /** `GET /v1/analytics/overview` (the composition root merges analytics, connections, HTTP and alerts). */
  overview: () => Promise<Record<string, unknown>>;
  /** Where `npm run build:dashboard` wrote the page's bundle. */
  dashboardDistDir: string;
  /** Body limit of POST /v1/events (EVENTS_MAX_BODY_BYTES). */
  eventsBodyLimitBytes: number;
  logger: Logger;
  metrics: Metrics;
  verifier: TokenVerifier;
  bodyLimitBytes: number;
  /** Time to receive a whole request, headers and body (HTTP_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
  limits: EdgeLimits;
  version: string;
}

/**
 * Wires the HTTP server: routes, OpenAPI, error mapping, request metrics, and the
 * WebSocket upgrade on `/ws`. No business logic lives here.
 */
export async function createHttpServer(deps: HttpDeps): Promise<FastifyInstance> {
  // backbeat_http_* (this capability's own), on the app's registry.
  const metrics = new HttpMetrics(deps.metrics);
  // Longer than any valid channel or id (schemas bound them): an over-long one gets the
  // schema's 400 naming the field, a far longer one the router's 414 (SPEC shape).
  const routerOptions = { maxParamLength: 1024 };
  const app = Fastify({
    // pino's Logger and fastify's logger type differ only in generics; tsc needs the cast.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    loggerInstance: deps.logger.child({ component: 'http' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimitBytes,
    forceCloseConnections: true,
    // The edge answers 503 itself while closing, in the SPEC's error shape.
    return503OnClosing: false,
    // Slow senders: a request (headers and body) must arrive within requestTimeoutMs;
    // Node checks every connectionsCheckingInterval, so keep that a fraction of it.
    requestTimeout: deps.requestTimeoutMs,
    http: {
      headersTimeout: deps.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, deps.requestTimeoutMs / 4),
    },
    routerOptions,
    clientErrorHandler: clientErrorHandler(metrics, deps.logger),
    frameworkErrors,
  }).withTypeProvider<TypeBoxTypeProvider>();
  // Route schemas are TypeBox: handlers get typed params/query/body from them, and the
  // project's HTTP ajv configuration (core/json) validates them.
  const ajv = createHttpAjv();
  app.setValidatorCompiler(({ schema }) => ajv.compile(schema));
  installErrorMapping(app, metrics, deps.logger);
  installEdge(app, deps.limits, metrics);

  app.addContentTypeParser('application/x-ndjson', { parseAs: 'string' }, (_req, body, done) =>
    done(null, body),
  );

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.labels(route, req.method, String(reply.statusCode)).inc();
    metrics.httpDuration.labels(route).observe(reply.elapsedTime / 1000);
  });

  // GET /openapi.json and the Swagger UI under /docs, built on first use from the routes below.
  docsRoutes(app, { version: deps.version, metrics: deps.metrics, logger: deps.logger, routerOptions });

  systemRoutes(app, deps);
  channelRoutes(app, deps.gateway, deps.verifier);
  eventRoutes(app, deps.streaming, deps.verifier, deps.eventsBodyLimitBytes);
  pushRoutes(app, deps.push, deps.verifier);
  analyticsRoutes(app, deps.analytics, deps.verifier, deps.overview);
  alertRoutes(app, deps.alerts, deps.verifier);
  gdprRoutes(app, deps.gdpr, deps.verifier);
  dashboardRoutes(app, { distDir: deps.dashboardDistDir });

  app.server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/ws') {
      socket.end(
        rawErrorResponse(
          404,
          'Not Found',
          ErrorCodes.NOT_FOUND.name,
          `no WebSocket endpoint at ${path}: use /ws`,
        ),
      );
      return;
    }
    deps.gateway.handleUpgrade(req, socket, head);
  });
  return app;
}
