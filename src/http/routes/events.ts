import { Type } from '@sinclair/typebox';
import { USER_ID_PATTERN, type TokenVerifier } from '../../core/auth/index.ts';
import { BadRequestError } from '../../core/errors/index.ts';
import { injectContext, extractContext } from '../../core/observability/index.ts';
import { parseNdjson, type StreamingService } from '../../streaming/index.ts';
import { requireScope, scopeOrOwn } from '../auth.ts';
import type { HttpApp } from './types.ts';

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
const UserId = Type.String({ pattern: USER_ID_PATTERN, maxLength: 128 });
const Rec = Type.Object({ trackId: Type.String(), score: Type.Number(), reason: Type.String() });

/** SPEC §4 event routes: intake, dead letters, recommendations; plus listening stats. */
export function eventRoutes(
  app: HttpApp,
  streaming: StreamingService,
  verifier: TokenVerifier,
  bodyLimitBytes: number,
): void {
  const admin = requireScope(verifier, 'admin');

  app.post(
    '/v1/events',
    {
      preHandler: requireScope(verifier, 'events:write'),
      bodyLimit: bodyLimitBytes,
      // Each event's depth is checked on its own: a deep one is rejected by index.
      config: { jsonDepth: 'per-item' },
      schema: {
        tags: ['events'],
        summary:
          'Send events (a JSON array, one JSON object, or NDJSON with content-type application/x-ndjson); 202 once durable',
        description:
          'Each event is validated on its own: invalid ones are listed in `rejected` by index and change nothing; the valid ones are appended in one durable write. Duplicates (an `id` already accepted) count as accepted and are not appended again.',
        security: [{ bearer: [] }],
        response: {
          202: Type.Object({
            accepted: Type.Integer(),
            duplicates: Type.Integer(),
            rejected: Type.Array(Type.Object({ index: Type.Integer(), error: Type.String() })),
            ids: Type.Array(Type.String(), {
              description: 'ids of the accepted events, in order (assigned when missing)',
            }),
          }),
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          413: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const body: unknown = req.body;
      const ndjson = (req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-ndjson');
      const raws =
        ndjson && typeof body === 'string'
          ? parseNdjson(body)
          : Array.isArray(body)
            ? body
            : typeof body === 'object' && body !== null
              ? [body]
              : undefined;
      if (!raws)
        throw new BadRequestError('body must be a JSON array of events, one event object, or NDJSON');
      const trace = injectContext(extractContext(req.headers));
      const res = await streaming.accept(raws, { source: 'http', trace });
      return reply.code(202).send({
        accepted: res.accepted,
        duplicates: res.duplicates,
        rejected: res.rejected,
        ids: res.ids.map((r) => r.id),
      });
    },
  );

  app.get(
    '/v1/events/dlq',
    {
      preHandler: admin,
      schema: {
        tags: ['events'],
        summary:
          'Dead letters: events a handler could not process after its retries, with error, attempts and handler',
        security: [{ bearer: [] }],
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          after: Type.Optional(Type.String({ maxLength: 300 })),
          handler: Type.Optional(Type.String({ maxLength: 64 })),
        }),
      },
    },
    async (req) => {
      const q = req.query;
      const limit = q.limit ?? 100;
      const items = await streaming.deadLetters({
        limit,
        ...(q.after ? { after: q.after } : {}),
        ...(q.handler ? { handler: q.handler } : {}),
      });
      return {
        total: await streaming.deadLetterCount(),
        items,
        next: items.length === limit ? items.at(-1)!.id : null,
      };
    },
  );

  app.post(
    '/v1/events/dlq/replay',
    {
      preHandler: admin,
      preValidation: async (req) => {
        req.body ??= {};
      },
      schema: {
        tags: ['events'],
        summary:
          'Replay dead letters through their handler (all, or the given ids); those that succeed leave the queue',
        security: [{ bearer: [] }],
        body: Type.Object({
          ids: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 300 }), { maxItems: 1000 })),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
        }),
        response: {
          200: Type.Object({
            replayed: Type.Integer(),
            succeeded: Type.Array(Type.String()),
            failed: Type.Array(Type.Object({ id: Type.String(), error: Type.String() })),
          }),
        },
      },
    },
    async (req) => {
      const body = req.body;
      return streaming.replayDeadLetters(body.ids, body.limit);
    },
  );

  app.get(
    '/v1/events/stats',
    {
      preHandler: admin,
      schema: {
        tags: ['events'],
        summary: 'Event log heads, processor progress, dead letters, latest window results',
        security: [{ bearer: [] }],
      },
    },
    async () => streaming.stats(),
  );

  app.get(
    '/v1/users/:id/recommendations',
    {
      preHandler: scopeOrOwn(verifier, 'analytics:read'),
      schema: {
        tags: ['events'],
        summary:
          "A user's live recommendations (the online model; the popularity baseline for users it has not seen)",
        security: [{ bearer: [] }],
        params: Type.Object({ id: UserId }),
        querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })) }),
        response: {
          200: Type.Object({
            items: Type.Array(Rec),
            model: Type.String(),
            updatedAt: Type.Union([Type.String(), Type.Null()]),
          }),
        },
      },
    },
    async (req) => {
      const { id } = req.params;
      const { limit } = req.query;
      return streaming.recommend(id, limit ?? 10);
    },
  );

  app.get(
    '/v1/users/:id/listening',
    {
      preHandler: scopeOrOwn(verifier, 'analytics:read'),
      schema: {
        tags: ['events'],
        summary: "A user's recent listening history (bounded), counts and listening sessions",
        security: [{ bearer: [] }],
        params: Type.Object({ id: UserId }),
      },
    },
    async (req) => {
      const { id } = req.params;
      return streaming.userListening(id);
    },
  );

  app.get(
    '/v1/tracks/:id/stats',
    {
      preHandler: requireScope(verifier, 'analytics:read'),
      schema: {
        tags: ['events'],
        summary:
          'Play counts of a track: plays, completes, partials, skips, likes, playlist adds, listened time',
        security: [{ bearer: [] }],
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }),
      },
    },
    async (req) => {
      const { id } = req.params;
      return streaming.trackStats(id);
    },
  );
}
