import { Type } from '@sinclair/typebox';
import type { FastifySchemaValidationError } from 'fastify';
import type { AnalyticsService } from '../../analytics/index.ts';
import { USER_ID_PATTERN, type TokenVerifier } from '../../core/auth/index.ts';
import { BackbeatError } from '../../core/errors/index.ts';
import { requireScope } from '../auth.ts';
import type { HttpApp } from './types.ts';

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody };
const oneOf = <T extends string>(values: readonly T[], description: string, def: T) =>
  Type.Unsafe<T>({ type: 'string', enum: [...values], default: def, description });

const TrendingQuery = Type.Object(
  {
    entity: Type.Optional(oneOf(['track', 'artist'] as const, 'what to rank', 'track')),
    window: Type.Optional(oneOf(['1h', '24h', '7d'] as const, 'the time window', '24h')),
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'items, 1–100' }),
    ),
  },
  { additionalProperties: false },
);
const TrendingBody = Type.Object({
  entity: Type.String(),
  window: Type.String(),
  items: Type.Array(
    Type.Object({
      id: Type.String(),
      score: Type.Number(),
      plays: Type.Integer(),
      uniqueListeners: Type.Integer(),
    }),
  ),
  updatedAt: Type.String(),
});
const UserBody = Type.Object({
  userId: Type.String(),
  engagementScore: Type.Integer({ minimum: 0, maximum: 100 }),
  segment: Type.String(),
  sessions: Type.Object({ count: Type.Integer(), avgDurationMs: Type.Integer() }),
  topArtists: Type.Array(Type.Object({ id: Type.String(), plays: Type.Integer() })),
  lastSeen: Type.String(),
});
const SegmentsBody = Type.Object({
  segments: Type.Array(
    Type.Object({ name: Type.String(), users: Type.Integer(), description: Type.String() }),
  ),
});
const NoQuery = Type.Object({}, { additionalProperties: false });

/**
 * A 400 that names the parameter: `querystring/window must be one of 1h, 24h, 7d`,
 * `querystring/foo is not a parameter of this route`.
 */
function namingErrors(errs: FastifySchemaValidationError[], dataVar: string): Error {
  const e = errs[0]!;
  const params = e.params;
  if (e.keyword === 'additionalProperties')
    return new Error(`${dataVar}/${String(params['additionalProperty'])} is not a parameter of this route`);
  const where = `${dataVar}${e.instancePath}`;
  if (e.keyword === 'enum')
    return new Error(`${where} must be one of ${(params['allowedValues'] as unknown[]).join(', ')}`);
  return new Error(`${where} ${e.message ?? 'is invalid'}`);
}

/** What every analytics route's schema has; each names its `querystring` (NoQuery: none allowed). */
const common = { tags: ['analytics'], security: [{ bearer: [] }] };

/** SPEC §7 queries: trending, a user's analytics, segments, the overview (all `analytics:read`). */
export function analyticsRoutes(
  app: HttpApp,
  analytics: AnalyticsService,
  verifier: TokenVerifier,
  overview: () => Promise<Record<string, unknown>>,
): void {
  const read = requireScope(verifier, 'analytics:read');

  app.get(
    '/v1/analytics/trending',
    {
      preHandler: read,
      schemaErrorFormatter: namingErrors,
      schema: {
        ...common,
        summary:
          'Trending tracks or artists: a time-decayed score against each item’s own baseline (a sudden riser ranks above a steady hit), plays and unique listeners in the window',
        querystring: TrendingQuery,
        response: { 200: TrendingBody, ...errors },
      },
    },
    async (req) => {
      const q = req.query;
      return analytics.trending(q.entity ?? 'track', q.window ?? '24h', q.limit ?? 20);
    },
  );

  app.get(
    '/v1/analytics/users/:id',
    {
      preHandler: read,
      schemaErrorFormatter: namingErrors,
      schema: {
        ...common,
        summary:
          'A user’s engagement score (0–100), segment, listening sessions and top artists; 404 without analytics consent or events',
        querystring: NoQuery,
        params: Type.Object({ id: Type.String({ pattern: USER_ID_PATTERN, maxLength: 128 }) }),
        response: { 200: UserBody, 404: ErrorBody, ...errors },
      },
    },
    async (req) => {
      const { id } = req.params;
      const user = analytics.user(id);
      if (!user)
        throw new BackbeatError(
          'NOT_FOUND',
          `no analytics for user ${id} (no analytics consent, or no events)`,
        );
      return user;
    },
  );

  app.get(
    '/v1/analytics/segments',
    {
      preHandler: read,
      schemaErrorFormatter: namingErrors,
      schema: {
        ...common,
        summary:
          'Segments (rules in src/analytics/README.md) and their sizes; a segment name can be a notification’s recipients',
        querystring: NoQuery,
        response: { 200: SegmentsBody, ...errors },
      },
    },
    async () => analytics.segments(),
  );

  app.get(
    '/v1/analytics/overview',
    {
      preHandler: read,
      schemaErrorFormatter: namingErrors,
      schema: {
        ...common,
        summary:
          'What the dashboard shows: events (total, per second), active users, connections, top tracks, HTTP latency and errors, open alerts',
        querystring: NoQuery,
      },
    },
    async () => overview(),
  );
}
