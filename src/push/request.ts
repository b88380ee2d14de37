import { Type, type Static } from '@sinclair/typebox';
import { USER_ID_PATTERN } from '../core/auth/index.ts';
import type { TemplateDefinition } from './templates/index.ts';
import type { Priority } from './providers/types.ts';

/**
 * The wire schemas of the push API (SPEC §6), TypeBox → JSON Schema: the routes validate
 * with them (400 naming the field) and the OpenAPI document shows them. Every string and
 * list is bounded; JSON depth is bounded by the HTTP edge (MAX_JSON_DEPTH).
 */
const UserId = Type.String({ pattern: USER_ID_PATTERN, maxLength: 128 });
export const Name = Type.String({
  pattern: '^[A-Za-z0-9_.:-]{1,128}$',
  description: '1-128 of [A-Za-z0-9_.:-]',
});
const Locale = Type.String({
  pattern: '^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$',
  maxLength: 35,
  description: 'BCP 47 tag, e.g. fr-CA',
});
const TimeZone = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'IANA time zone, e.g. Europe/Paris',
});
const Topic = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' });
const Clock = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM, 24 h' });
const Base64Url = (max: number) => Type.String({ pattern: '^[A-Za-z0-9_-]+=*$', maxLength: max });

export const DeviceBody = Type.Object(
  {
    userId: UserId,
    platform: Type.Union([Type.Literal('ios'), Type.Literal('android'), Type.Literal('web')]),
    token: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4096,
        pattern: '^[\\x21-\\x7e]+$',
        description: 'APNs (hex) or FCM registration token',
      }),
    ),
    subscription: Type.Optional(
      Type.Object({
        endpoint: Type.String({ pattern: '^https://', maxLength: 2048 }),
        keys: Type.Object({ p256dh: Base64Url(256), auth: Base64Url(64) }),
      }),
    ),
    locale: Type.Optional(Locale),
    timezone: Type.Optional(TimeZone),
    topics: Type.Optional(Type.Array(Topic, { maxItems: 100, uniqueItems: true })),
  },
  { additionalProperties: false },
);
export type DeviceBody = Static<typeof DeviceBody>;

export const PreferencesBody = Type.Object(
  {
    timezone: Type.Optional(Type.Union([TimeZone, Type.Null()])),
    locale: Type.Optional(Type.Union([Locale, Type.Null()])),
    quietHours: Type.Optional(
      Type.Union([Type.Object({ start: Clock, end: Clock }, { additionalProperties: false }), Type.Null()]),
    ),
    optOut: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }), { maxItems: 100 })),
  },
  { additionalProperties: false },
);
export type PreferencesBody = Static<typeof PreferencesBody>;

const LocaleContent = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 1000 }),
    body: Type.String({ minLength: 1, maxLength: 4000 }),
  },
  { additionalProperties: false },
);
export const TemplateBody = Type.Object(
  {
    defaultLocale: Locale,
    locales: Type.Record(Type.String({ maxLength: 35 }), LocaleContent, {
      minProperties: 1,
      maxProperties: 100,
    }),
  },
  { additionalProperties: false },
);
export type TemplateBody = Static<typeof TemplateBody>;

const PriorityT = Type.Union([
  Type.Literal('low'),
  Type.Literal('normal'),
  Type.Literal('high'),
  Type.Literal('critical'),
]);
export const NotificationBody = Type.Object(
  {
    userIds: Type.Optional(Type.Array(UserId, { minItems: 1, maxItems: 10_000, uniqueItems: true })),
    topic: Type.Optional(Topic),
    segment: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' })),
    template: Type.Optional(Name),
    variables: Type.Optional(
      Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 200 }),
    ),
    title: Type.Optional(Type.String({ minLength: 1, maxLength: 1000 })),
    body: Type.Optional(Type.String({ minLength: 1, maxLength: 4000 })),
    data: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 100 })),
    priority: Type.Optional(PriorityT),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_419_200 })),
    collapseKey: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    category: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' })),
    sendAt: Type.Optional(Type.String({ maxLength: 40, description: 'ISO 8601 date-time, or "optimal"' })),
    defaultSendHour: Type.Optional(Type.Integer({ minimum: 0, maximum: 23 })),
    channel: Type.Optional(Type.Union([Type.Literal('push'), Type.Literal('auto')])),
    idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    experiment: Type.Optional(
      Type.Object({
        name: Name,
        variants: Type.Array(
          Type.Object({
            name: Name,
            weight: Type.Number({ exclusiveMinimum: 0, maximum: 1e6 }),
            template: Name,
          }),
          { minItems: 2, maxItems: 20 },
        ),
      }),
    ),
  },
  { additionalProperties: false },
);
export type NotificationBody = Static<typeof NotificationBody>;

/**
 * What a job stores as its request: the validated body plus snapshots of the templates it
 * uses (a template changed after the 202 does not change a running job), its creation
 * time and when its notifications expire.
 */
export interface JobRequest {
  audience: { userIds?: string[]; topic?: string; segment?: string };
  template?: string;
  title?: string;
  body?: string;
  variables: Record<string, unknown>;
  templates: Record<string, TemplateDefinition>;
  experiment?: { name: string; variants: Array<{ name: string; weight: number; template: string }> };
  data?: Record<string, unknown>;
  priority: Priority;
  ttlSeconds?: number;
  collapseKey?: string;
  category?: string;
  sendAt?: string;
  defaultSendHour: number;
  channel: 'push' | 'auto';
  createdAt: number;
  /** ms; a recipient not sent by then is `expired`. */
  expiresAt?: number;
  /** W3C trace context of the request that created the job: deliveries continue its trace. */
  trace?: Record<string, string>;
}

/** `jobId.seq`: what every delivery carries, and what `notification.opened` names. */
export const notificationIdOf = (jobId: string, seq: number): string => `${jobId}.${seq}`;
export function parseNotificationId(id: string): { jobId: string; seq: number } | undefined {
  const dot = id.lastIndexOf('.');
  const seq = Number(id.slice(dot + 1));
  return dot > 0 && Number.isSafeInteger(seq) && seq > 0 ? { jobId: id.slice(0, dot), seq } : undefined;
}
