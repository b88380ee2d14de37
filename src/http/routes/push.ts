import { Type } from '@sinclair/typebox';
import { assertOwnUser, USER_ID_PATTERN, type TokenVerifier } from '../../core/auth/index.ts';
import { BackbeatError } from '../../core/errors/index.ts';
import {
  DeviceBody,
  Name,
  NotificationBody,
  PreferencesBody,
  TemplateBody,
  type PushService,
} from '../../push/index.ts';
import { authenticate, requireScope, scopeOrOwn } from '../auth.ts';
import type { HttpApp } from './types.ts';

const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
const UserParams = Type.Object({ id: Type.String({ pattern: USER_ID_PATTERN, maxLength: 128 }) });
const IdParams = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) });
const DeviceInfo = Type.Object({
  id: Type.String(),
  platform: Type.String(),
  locale: Type.Union([Type.String(), Type.Null()]),
  timezone: Type.Union([Type.String(), Type.Null()]),
  topics: Type.Array(Type.String()),
  createdAt: Type.String(),
});
const Prefs = Type.Object({
  timezone: Type.Union([Type.String(), Type.Null()]),
  locale: Type.Union([Type.String(), Type.Null()]),
  quietHours: Type.Union([Type.Object({ start: Type.String(), end: Type.String() }), Type.Null()]),
  optOut: Type.Array(Type.String()),
});
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

/** SPEC §6: devices, preferences, templates, notifications, experiments, send times. */
export function pushRoutes(app: HttpApp, push: PushService, verifier: TokenVerifier): void {
  const send = requireScope(verifier, 'push:send');
  const own = scopeOrOwn(verifier, 'push:send');

  app.post(
    '/v1/devices',
    {
      preHandler: async (req) => {
        const p = await authenticate(req, verifier);
        const { userId } = req.body;
        assertOwnUser(p.user, userId, p.hasScope('push:send'), 'push:send');
      },
      schema: {
        tags: ['push'],
        summary:
          'Register an APNs/FCM token or a Web Push subscription; the same token or endpoint again answers 200 with the same id',
        security: [{ bearer: [] }],
        body: DeviceBody,
        response: {
          200: Type.Object({ id: Type.String() }),
          201: Type.Object({ id: Type.String() }),
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { id, created } = await push.registerDevice(req.body);
      return reply.code(created ? 201 : 200).send({ id });
    },
  );

  app.delete(
    '/v1/devices/:id',
    {
      preHandler: async (req) => void (await authenticate(req, verifier)),
      schema: {
        tags: ['push'],
        summary: 'Remove a device',
        security: [{ bearer: [] }],
        params: IdParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      const device = await push.device(id);
      const p = req.principal!;
      // Another user's device is "not found" to a user token: its existence is not told.
      if (!device || (!p.hasScope('push:send') && device.userId !== p.user))
        throw new BackbeatError('NOT_FOUND', `no device ${id}`);
      await push.deleteDevice(id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/users/:id/devices',
    {
      preHandler: own,
      schema: {
        tags: ['push'],
        summary: "A user's devices (tokens are not echoed)",
        security: [{ bearer: [] }],
        params: UserParams,
        response: { 200: Type.Object({ items: Type.Array(DeviceInfo) }), ...errors },
      },
    },
    async (req) => {
      const { id } = req.params;
      const items = await push.devicesOf(id);
      return {
        items: items.map((d) => ({
          id: d.id,
          platform: d.platform,
          locale: d.locale,
          timezone: d.timezone,
          topics: d.topics,
          createdAt: new Date(d.createdAt).toISOString(),
        })),
      };
    },
  );

  app.put(
    '/v1/users/:id/preferences',
    {
      preHandler: own,
      schema: {
        tags: ['push'],
        summary: 'Quiet hours, time zone, locale, opted-out categories',
        security: [{ bearer: [] }],
        params: UserParams,
        body: PreferencesBody,
        response: { 200: Prefs, ...errors },
      },
    },
    async (req) => {
      const { id } = req.params;
      const p = await push.putPreferences(id, req.body);
      return { timezone: p.timezone, locale: p.locale, quietHours: p.quietHours, optOut: p.optOut };
    },
  );

  app.get(
    '/v1/users/:id/preferences',
    {
      preHandler: own,
      schema: {
        tags: ['push'],
        summary: "A user's notification preferences",
        security: [{ bearer: [] }],
        params: UserParams,
        response: { 200: Prefs, ...errors },
      },
    },
    async (req) => {
      const { id } = req.params;
      const p = await push.preferences(id);
      return { timezone: p.timezone, locale: p.locale, quietHours: p.quietHours, optOut: p.optOut };
    },
  );

  app.get(
    '/v1/users/:id/send-time',
    {
      preHandler: own,
      schema: {
        tags: ['push'],
        summary:
          "The hour (in the user's time zone) the user is most likely to open a notification, learned from their own app and notification opens",
        security: [{ bearer: [] }],
        params: UserParams,
        response: {
          200: Type.Object({ localHour: Type.Integer(), timezone: Type.String(), basis: Type.String() }),
          ...errors,
        },
      },
    },
    async (req) => push.sendTimeOf(req.params.id),
  );

  app.put(
    '/v1/templates/:name',
    {
      preHandler: send,
      schema: {
        tags: ['push'],
        summary:
          'Create or replace a localized template (Liquid placeholders; a template that does not parse is refused)',
        security: [{ bearer: [] }],
        params: Type.Object({ name: Name }),
        body: TemplateBody,
        response: {
          200: Type.Object({
            name: Type.String(),
            version: Type.Integer(),
            defaultLocale: Type.String(),
            locales: Type.Record(Type.String(), Type.Object({ title: Type.String(), body: Type.String() })),
          }),
          ...errors,
        },
      },
    },
    async (req) => push.putTemplate(req.params.name, req.body),
  );

  app.post(
    '/v1/notifications',
    {
      preHandler: send,
      schema: {
        tags: ['push'],
        summary:
          'Send a notification to userIds, a topic or a segment; 202 once the job and every recipient are stored',
        security: [{ bearer: [] }],
        body: NotificationBody,
        response: { 202: Type.Object({ jobId: Type.String(), recipients: Type.Integer() }), ...errors },
      },
    },
    async (req, reply) => {
      const r = await push.createNotification(req.body, req.headers);
      return reply.code(202).send({ jobId: r.jobId, recipients: r.recipients });
    },
  );

  app.get(
    '/v1/notifications/:id',
    {
      preHandler: send,
      schema: {
        tags: ['push'],
        summary: 'Progress and outcome of a notification job',
        security: [{ bearer: [] }],
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
      },
    },
    async (req) => {
      const { id } = req.params;
      const s = await push.jobStatus(id);
      if (!s) throw new BackbeatError('NOT_FOUND', `no notification job ${id}`);
      return s;
    },
  );

  app.get(
    '/v1/experiments/:name',
    {
      preHandler: send,
      schema: {
        tags: ['push'],
        summary:
          'A/B results: per variant recipients, sends, opens, open rate; a winner only when significant at 0.05',
        security: [{ bearer: [] }],
        params: Type.Object({ name: Name }),
      },
    },
    async (req) => push.experiment(req.params.name),
  );

  app.get(
    '/v1/push/vapid-public-key',
    {
      schema: {
        tags: ['push'],
        summary: 'The VAPID public key browsers subscribe with (applicationServerKey)',
        response: { 200: Type.Object({ publicKey: Type.String() }), 404: ErrorBody },
      },
    },
    async () => {
      const publicKey = push.vapidPublicKey;
      if (!publicKey)
        throw new BackbeatError(
          'NOT_FOUND',
          'Web Push is off: set VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY (the same on every node)',
        );
      return { publicKey };
    },
  );
}
