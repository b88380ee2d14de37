import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { USER_ID_PATTERN, type TokenVerifier } from '../../core/auth/index.ts';
import { BackbeatError, BadRequestError } from '../../core/errors/index.ts';
import { requireScope, scopeOrOwn } from '../auth.ts';
import type { HttpApp } from './types.ts';

/** The three consent choices (SPEC §7). */
interface Consent {
  analytics: boolean;
  personalization: boolean;
  marketing: boolean;
}

/**
 * What the routes use of the GDPR service (`GdprService` in analytics/gdpr), typed here
 * structurally: HTTP reaches capabilities only through their index.ts.
 */
export interface GdprApi {
  consent(userId: string): Promise<Consent>;
  putConsent(userId: string, c: Consent): Promise<Consent>;
  export(userId: string): Promise<Record<string, unknown>>;
  erase(userId: string): Promise<{ receiptId: string }>;
  erasure(
    receiptId: string,
  ): Promise<{ status: 'pending' | 'done'; stores: Record<string, 'pending' | 'done'> } | undefined>;
}

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
const UserParams = Type.Object({ id: Type.String({ pattern: USER_ID_PATTERN, maxLength: 128 }) });
const ConsentBody = Type.Object(
  {
    analytics: Type.Boolean({ description: 'analytics may keep a (pseudonymized) profile of the user' }),
    personalization: Type.Boolean({ description: 'recommendations and learned send time' }),
    marketing: Type.Boolean({ description: 'notifications of category marketing' }),
  },
  { additionalProperties: false },
);
const State = Type.Union([Type.Literal('pending'), Type.Literal('done')]);
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };
const PURPOSES = ['analytics', 'personalization', 'marketing'] as const;

/**
 * The consent body, checked strictly before the framework's validation (which would
 * coerce `"true"` or `1` into a boolean): each purpose a JSON boolean, nothing else. The
 * message names every wrong field.
 */
function strictConsent(req: FastifyRequest): void {
  const b = req.body;
  if (typeof b !== 'object' || b === null || Array.isArray(b))
    throw new BadRequestError('body must be a JSON object {"analytics","personalization","marketing"}');
  const body = b as Record<string, unknown>;
  const problems = [
    ...PURPOSES.filter((p) => typeof body[p] !== 'boolean').map((p) =>
      body[p] === undefined
        ? `body must have required property '${p}' (a boolean)`
        : `body/${p} must be boolean`,
    ),
    ...Object.keys(body)
      .filter((k) => !(PURPOSES as readonly string[]).includes(k))
      .map((k) => `body/${k} is not allowed (only analytics, personalization, marketing)`),
  ];
  if (problems.length) throw new BadRequestError(problems.join('; '));
}

/**
 * SPEC §4 / §7: consent, export, erasure and its receipts. Consent and export: the `gdpr`
 * scope or the user's own token; erasure and receipts: the `gdpr` scope only.
 */
export function gdprRoutes(app: HttpApp, gdpr: GdprApi, verifier: TokenVerifier): void {
  const own = scopeOrOwn(verifier, 'gdpr');
  const scoped = requireScope(verifier, 'gdpr');

  app.put(
    '/v1/users/:id/consent',
    {
      // Who first (401/403 before 400), then the strict body check, then the schema.
      preValidation: async (req) => {
        await own(req);
        strictConsent(req);
      },
      schema: {
        tags: ['gdpr'],
        summary: "Record the user's consent (all three choices, booleans)",
        security: [{ bearer: [] }],
        params: UserParams,
        body: ConsentBody,
        response: { 200: ConsentBody, ...errors },
      },
    },
    async (req) => gdpr.putConsent(req.params.id, req.body),
  );

  app.get(
    '/v1/users/:id/consent',
    {
      preHandler: own,
      schema: {
        tags: ['gdpr'],
        summary: "The user's consent (CONSENT_DEFAULT for a user never asked)",
        security: [{ bearer: [] }],
        params: UserParams,
        response: { 200: ConsentBody, ...errors },
      },
    },
    async (req) => gdpr.consent(req.params.id),
  );

  app.get(
    '/v1/users/:id/export',
    {
      preHandler: own,
      schema: {
        tags: ['gdpr'],
        summary:
          'Everything held about the user, as one JSON document (consent, devices, preferences, notifications, events, listening, recommendations, analytics…)',
        security: [{ bearer: [] }],
        params: UserParams,
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const doc = await gdpr.export(id);
      return reply
        .header(
          'content-disposition',
          `attachment; filename="backbeat-export-${id.replace(/[^A-Za-z0-9_.@=-]/g, '_')}.json"`,
        )
        .send(doc);
    },
  );

  app.delete(
    '/v1/users/:id',
    {
      preHandler: scoped,
      schema: {
        tags: ['gdpr'],
        summary:
          'Erase the user from every store; 202 with a receipt once the request is durable (GET /v1/erasures/{receiptId} follows it)',
        security: [{ bearer: [] }],
        params: UserParams,
        response: { 202: Type.Object({ receiptId: Type.String() }), ...errors },
      },
    },
    async (req, reply) => reply.code(202).send(await gdpr.erase(req.params.id)),
  );

  app.get(
    '/v1/erasures/:receiptId',
    {
      preHandler: scoped,
      schema: {
        tags: ['gdpr'],
        summary: 'Progress of an erasure, per store',
        security: [{ bearer: [] }],
        params: Type.Object({ receiptId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) }),
        response: {
          200: Type.Object({ status: State, stores: Type.Record(Type.String(), State) }),
          ...errors,
        },
      },
    },
    async (req) => {
      const { receiptId } = req.params;
      const r = await gdpr.erasure(receiptId);
      if (!r) throw new BackbeatError('NOT_FOUND', `no erasure receipt ${receiptId}`);
      return r;
    },
  );
}
