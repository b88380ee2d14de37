import { Type } from '@sinclair/typebox';
import { USER_ID_PATTERN, type TokenVerifier } from '../../core/auth/index.ts';
import { BadRequestError } from '../../core/errors/index.ts';
import type { Gateway } from '../../gateway/index.ts';
import { CHANNEL_PATTERN } from '../../gateway/index.ts';
import { requireScope } from '../auth.ts';
import type { HttpApp } from './types.ts';

const Channel = Type.String({ pattern: CHANNEL_PATTERN, maxLength: 161, description: 'namespace:name' });
const ErrorBody = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });
const Info = Type.Object({ user: Type.String(), client: Type.Optional(Type.String()) });
const Pub = Type.Object({
  offset: Type.Integer(),
  data: Type.Unknown(),
  info: Type.Optional(Info),
  ts: Type.Integer(),
});

/** SPEC §4 channel routes: publish, presence, history, user disconnect. */
export function channelRoutes(app: HttpApp, gw: Gateway, verifier: TokenVerifier): void {
  const publishScope = requireScope(verifier, 'publish');

  app.post(
    '/v1/publish',
    {
      preHandler: publishScope,
      schema: {
        tags: ['channels'],
        summary: 'Publish to a channel; 200 means it is in history and being delivered on every node',
        security: [{ bearer: [] }],
        body: Type.Object({ channel: Channel, data: Type.Unknown() }, { required: ['channel', 'data'] }),
        response: {
          200: Type.Object({ offset: Type.Integer(), epoch: Type.String() }),
          400: ErrorBody,
          401: ErrorBody,
          403: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (req) => {
      const body = req.body;
      if (body.data === undefined) throw new BadRequestError('body must have data');
      const res = await gw.channels.publish(
        body.channel,
        body.data,
        { user: req.principal!.user },
        'http',
        req.headers,
      );
      return { offset: res.offset, epoch: res.epoch };
    },
  );

  app.get(
    '/v1/channels/:channel/presence',
    {
      preHandler: publishScope,
      schema: {
        tags: ['channels'],
        summary: 'Clients subscribed to a channel, on every node',
        security: [{ bearer: [] }],
        params: Type.Object({ channel: Channel }),
        response: {
          200: Type.Object({
            channel: Type.String(),
            clients: Type.Array(Type.Object({ client: Type.String(), user: Type.String() })),
          }),
        },
      },
    },
    async (req) => {
      const { channel } = req.params;
      return { channel, clients: await gw.channels.presence(channel) };
    },
  );

  app.get(
    '/v1/channels/:channel/history',
    {
      preHandler: publishScope,
      schema: {
        tags: ['channels'],
        summary: 'Channel history: the latest `limit`, or what came after `since` (with `epoch`)',
        security: [{ bearer: [] }],
        params: Type.Object({ channel: Channel }),
        querystring: Type.Object({
          since: Type.Optional(Type.Integer({ minimum: 0 })),
          epoch: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000 })),
        }),
        response: {
          200: Type.Object({
            channel: Type.String(),
            offset: Type.Integer(),
            epoch: Type.String(),
            publications: Type.Array(Pub),
          }),
        },
      },
    },
    async (req) => {
      const { channel } = req.params;
      const q = req.query;
      let since;
      if (q.since !== undefined) {
        const epoch = q.epoch ?? (await gw.channels.history(channel, undefined, 0)).position.epoch;
        since = { offset: q.since, epoch };
      } else if (q.epoch !== undefined) {
        throw new BadRequestError('epoch needs since');
      }
      const page = await gw.channels.history(channel, since, q.limit);
      return {
        channel,
        offset: page.position.offset,
        epoch: page.position.epoch,
        publications: page.publications.map((p) => ({
          offset: p.offset,
          data: p.data,
          info: p.info,
          ts: p.ts,
        })),
      };
    },
  );

  app.post(
    '/v1/users/:id/disconnect',
    {
      preHandler: requireScope(verifier, 'admin'),
      // The body is optional: a bare POST (e.g. `curl -X POST`) uses the defaults.
      preValidation: async (req) => {
        req.body ??= {};
      },
      schema: {
        tags: ['channels'],
        summary: 'Close every connection of a user, on every node',
        security: [{ bearer: [] }],
        params: Type.Object({ id: Type.String({ pattern: USER_ID_PATTERN, maxLength: 128 }) }),
        body: Type.Object({
          code: Type.Optional(Type.Integer({ minimum: 4000, maximum: 4999 })),
          reason: Type.Optional(Type.String({ maxLength: 100 })),
        }),
        response: { 200: Type.Object({ user: Type.String() }) },
      },
    },
    async (req) => {
      const { id } = req.params;
      const body = req.body;
      await gw.channels.disconnectUser(id, body.code ?? 4003, body.reason ?? 'disconnected by the server');
      return { user: id };
    },
  );
}
