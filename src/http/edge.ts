import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  BadRequestError,
  ErrorCodes,
  rawErrorResponse,
  RateLimitedError,
  UnavailableError,
  type ErrorCodeKey,
} from '../core/errors/index.ts';
import { depthError, exceedsJsonDepth } from '../core/json/index.ts';
import type { Logger, Metrics } from '../core/observability/index.ts';
import type { HttpMetrics } from './metrics.ts';

/**
 * The HTTP edge's bounds: every input is bounded in size, depth and time to arrive before
 * a route sees it, and every answer — the framework's own included — has the SPEC shape
 * `{"error":{"code","message"}}`. One client's slow or hostile requests are its own
 * errors, never the node's.
 */
export interface EdgeLimits {
  /** Deepest JSON nesting of a request body (MAX_JSON_DEPTH). */
  maxJsonDepth: number;
  /** Bodies being received at once on this node (HTTP_MAX_PENDING_BODIES). */
  maxPendingBodies: number;
  /** Bodies being received at once from one address (HTTP_MAX_PENDING_BODIES_PER_IP). */
  maxPendingBodiesPerIp: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * `'per-item'`: the route checks the depth of each item of its body itself, so one deep
     * item is rejected by index instead of the whole body (POST /v1/events).
     */
    jsonDepth?: 'per-item';
  }
}

/** The status → catalog code of errors raised by the framework or its plugins. */
const BY_STATUS: Record<number, ErrorCodeKey> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'BAD_REQUEST',
  406: 'BAD_REQUEST',
  408: 'REQUEST_TIMEOUT',
  411: 'BAD_REQUEST',
  413: 'TOO_LARGE',
  414: 'TOO_LARGE',
  415: 'BAD_REQUEST',
  429: 'RATE_LIMITED',
  431: 'TOO_LARGE',
  503: 'UNAVAILABLE',
};

/** The SPEC error code for an HTTP status (any 4xx not listed is a bad request). */
export function codeForStatus(status: number): string {
  const key = BY_STATUS[status] ?? (status < 500 ? 'BAD_REQUEST' : 'INTERNAL');
  return ErrorCodes[key].name;
}

function errorBody(status: number, message: string): string {
  return JSON.stringify({ error: { code: codeForStatus(status), message } });
}

/**
 * Answers on a raw socket, for errors Node's HTTP parser raises before there is a request
 * (request timeout, oversized or malformed headers), then closes it.
 */
export function clientErrorHandler(metrics: Pick<Metrics, 'errors'>, logger: Logger) {
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, message] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request not received in time (HTTP_REQUEST_TIMEOUT_MS)']
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'request headers too large']
          : [400, 'malformed HTTP request'];
    metrics.errors.labels(codeForStatus(status)).inc();
    logger.debug({ err: err.code }, 'http client error');
    if (socket.writable) {
      const reason =
        status === 408
          ? 'Request Timeout'
          : status === 431
            ? 'Request Header Fields Too Large'
            : 'Bad Request';
      socket.write(rawErrorResponse(status, reason, codeForStatus(status), message));
    }
    socket.destroy();
  };
}

/** Errors the router raises before routing (bad URL encoding, over-long parameters). */
export function frameworkErrors(error: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode ?? 400;
  const message =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? 'a path parameter is too long'
      : error.code === 'FST_ERR_BAD_URL'
        ? 'the URL is not validly percent-encoded'
        : error.message;
  void reply.status(status).header('content-type', 'application/json').send(errorBody(status, message));
}

/**
 * Installs the hooks of the edge: answers 503 while closing (in the SPEC shape, instead of
 * the framework's own), bounds bodies in flight (per node and per address), and refuses
 * bodies nested deeper than MAX_JSON_DEPTH before validation or a handler sees them.
 */
export function installEdge(app: FastifyInstance, limits: EdgeLimits, metrics: HttpMetrics): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  let pending = 0;
  const perIp = new Map<string, number>();
  const release = (ip: string): void => {
    pending--;
    const n = (perIp.get(ip) ?? 1) - 1;
    if (n <= 0) perIp.delete(ip);
    else perIp.set(ip, n);
  };

  app.addHook('onRequest', async (req, reply) => {
    if (closing) {
      void reply.header('connection', 'close');
      throw new UnavailableError('server shutting down: retry on another node');
    }
    if (!hasBody(req.raw)) return;
    const ip = req.socket.remoteAddress ?? 'unknown';
    const mine = perIp.get(ip) ?? 0;
    if (pending >= limits.maxPendingBodies || mine >= limits.maxPendingBodiesPerIp) {
      // Not reading the body: close the connection after answering rather than drain it.
      void reply.header('connection', 'close');
      metrics.httpBodiesRefused.inc();
      if (mine >= limits.maxPendingBodiesPerIp) throw new RateLimitedError(1000);
      throw new UnavailableError('too many request bodies in flight on this node (HTTP_MAX_PENDING_BODIES)');
    }
    pending++;
    perIp.set(ip, mine + 1);
    metrics.httpBodiesPending.set(pending);
    let done = false;
    const settle = (): void => {
      if (done) return;
      done = true;
      release(ip);
      metrics.httpBodiesPending.set(pending);
    };
    req.raw.once('end', settle);
    req.raw.once('close', settle);
  });

  app.addHook('preValidation', async (req) => {
    if (req.routeOptions.config.jsonDepth === 'per-item') return;
    if (!exceedsJsonDepth(req.body, limits.maxJsonDepth)) return;
    metrics.jsonDepthRefused.labels('http').inc();
    throw new BadRequestError(depthError('request body', limits.maxJsonDepth));
  });
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}
