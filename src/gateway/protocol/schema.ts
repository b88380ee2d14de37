import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { CHANNEL_MAX_LENGTH } from './channel.ts';

/**
 * backbeat.v1 client commands as JSON Schema (TypeBox). One schema per command type;
 * the same schemas describe the protocol in docs and the OpenAPI document. Unknown
 * extra fields are ignored (forward compatibility); known fields must be well-formed.
 */

const Id = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
const Channel = Type.String({ minLength: 3, maxLength: CHANNEL_MAX_LENGTH });
const Token = Type.String({ minLength: 1, maxLength: 8192 });
export const Position = Type.Object({
  offset: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  epoch: Type.String({ minLength: 1, maxLength: 64 }),
});

export const CommandSchemas = {
  connect: Type.Object({
    id: Id,
    type: Type.Literal('connect'),
    token: Token,
    session: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  }),
  subscribe: Type.Object({
    id: Id,
    type: Type.Literal('subscribe'),
    channel: Channel,
    recover: Type.Optional(Position),
    presence: Type.Optional(Type.Boolean()),
  }),
  unsubscribe: Type.Object({ id: Id, type: Type.Literal('unsubscribe'), channel: Channel }),
  publish: Type.Object(
    { id: Id, type: Type.Literal('publish'), channel: Channel, data: Type.Unknown() },
    { required: ['id', 'type', 'channel', 'data'] },
  ),
  presence: Type.Object({ id: Id, type: Type.Literal('presence'), channel: Channel }),
  history: Type.Object({
    id: Id,
    type: Type.Literal('history'),
    channel: Channel,
    since: Type.Optional(Position),
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000 })),
  }),
  ping: Type.Object({ id: Id, type: Type.Literal('ping') }),
  refresh: Type.Object({ id: Id, type: Type.Literal('refresh'), token: Token }),
  event: Type.Object({
    id: Id,
    type: Type.Literal('event'),
    event: Type.Object({}, { additionalProperties: true }),
  }),
} satisfies Record<string, TSchema>;

export type CommandType = keyof typeof CommandSchemas;
export type Command = { [K in CommandType]: Static<(typeof CommandSchemas)[K]> }[CommandType];
export type CommandOf<K extends CommandType> = Static<(typeof CommandSchemas)[K]>;
export const COMMAND_TYPES = Object.keys(CommandSchemas) as CommandType[];
