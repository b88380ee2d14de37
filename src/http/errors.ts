import type { FastifyError, FastifyInstance } from 'fastify';
import { BackbeatError, ErrorCodes } from '../core/errors/index.ts';
import type { Logger, Metrics } from '../core/observability/index.ts';
import { codeForStatus } from './edge.ts';

/** Maps every error to `{"error":{"code","message"}}` with the catalog's status. */
export function installErrorMapping(
  app: FastifyInstance,
  metrics: Pick<Metrics, 'errors'>,
  log: Logger,
): void {
  app.setErrorHandler((err: FastifyError | BackbeatError | Error, req, reply) => {
    let status: number;
    let code: string;
    let message: string;
    let details: Record<string, unknown> | undefined;
    if (err instanceof BackbeatError) {
      status = err.httpStatus;
      code = err.def.name;
      message = err.message;
      details = err.details;
    } else if ((err as FastifyError).validation) {
      status = 400;
      code = ErrorCodes.BAD_REQUEST.name;
      message = err.message;
    } else if ((err as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      status = 413;
      code = ErrorCodes.TOO_LARGE.name;
      message = 'request body too large';
    } else if (
      typeof (err as FastifyError).statusCode === 'number' &&
      (err as FastifyError).statusCode! < 500
    ) {
      // The framework's and plugins' own client errors (bad JSON, media type, static file
      // paths…): their status, with the catalog code of that status.
      status = (err as FastifyError).statusCode!;
      code = codeForStatus(status);
      message = err.message;
    } else {
      status = 500;
      code = ErrorCodes.INTERNAL.name;
      message = 'internal error';
      log.error({ err, url: req.url }, 'request failed');
    }
    metrics.errors.labels(code).inc();
    if (details?.['retryAfterMs'] !== undefined)
      reply.header('retry-after', Math.ceil(Number(details['retryAfterMs']) / 1000));
    void reply.status(status).send({ error: { code, message, ...details } });
  });
  app.setNotFoundHandler((req, reply) => {
    metrics.errors.labels(ErrorCodes.NOT_FOUND.name).inc();
    void reply.status(404).send({
      error: {
        code: ErrorCodes.NOT_FOUND.name,
        message: `no route ${req.method} ${req.url.split('?')[0]}`,
      },
    });
  });
}
