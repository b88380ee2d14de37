import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';

/**
 * The Fastify instance routes register on (`createHttpServer` makes it with
 * `withTypeProvider<TypeBoxTypeProvider>()`): each route's TypeBox schemas type its
 * handler's `req.params`, `req.query`, `req.body` and its reply, so handlers need no casts.
 */
export type HttpApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;
