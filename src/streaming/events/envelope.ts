import { randomUUID } from 'node:crypto';
import { USER_ID_RULE, isUserId } from '../../core/auth/index.ts';
import { BadRequestError } from '../../core/errors/index.ts';
import type { SchemaRegistry } from './registry.ts';

/**
 * The event envelope of SPEC §5 and its normalized, stored form.
 *
 * In: `{"id":UUID?,"type":T,"v":VERSION?,"userId":ID,"ts":ISO8601|MILLIS,"data":{…}}`.
 * Out (what the log stores and handlers read): the same with `id` assigned when missing,
 * `ts` as epoch ms, `v` and `data` upgraded to the newest version of the type, the
 * server receive time `receivedAt`, and the W3C trace context of the request that
 * carried it (`trace`, empty when none). Unknown envelope fields are ignored.
 */
export interface StreamEvent {
  id: string;
  type: string;
  /** The version `data` is in: always the newest registered (older ones are upgraded on read). */
  v: number;
  userId: string;
  /** Event time, ms since the epoch. */
  ts: number;
  /** Server receive time, ms since the epoch. */
  receivedAt: number;
  data: Record<string, unknown>;
  /** W3C trace context (`traceparent`, `tracestate`) of the request that carried the event. */
  trace: Record<string, string>;
}

export interface ParseEventContext {
  registry: SchemaRegistry;
  now: number;
  trace?: Record<string, string>;
  /** Events further in the future than this are refused (clock skew bound), ms. @default 86_400_000 */
  maxFutureMs?: number;
}

const ID = /^[A-Za-z0-9_.:@-]{1,128}$/;
/** Event times before 2000-01-01 are refused as nonsense (a seconds-instead-of-ms mistake lands there). */
const MIN_TS = Date.UTC(2000, 0, 1);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates one raw event and returns it normalized; throws BadRequestError naming every wrong field. */
export function parseEvent(raw: unknown, ctx: ParseEventContext): StreamEvent {
  if (!isObject(raw)) throw new BadRequestError('event must be a JSON object');
  const problems: string[] = [];
  const { id, type, v, userId, ts, data } = raw;
  if (id !== undefined && (typeof id !== 'string' || !ID.test(id)))
    problems.push('id must be 1-128 of [A-Za-z0-9_.:@-] (a UUID fits)');
  if (typeof type !== 'string' || type === '') problems.push('type is required (a string)');
  if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 1))
    problems.push('v must be a positive integer');
  if (!isUserId(userId))
    problems.push(userId === undefined ? 'userId is required' : `userId must be ${USER_ID_RULE}`);
  const millis = eventTime(ts);
  const maxFuture = ctx.maxFutureMs ?? 86_400_000;
  if (millis === undefined)
    problems.push(
      ts === undefined ? 'ts is required' : 'ts must be an ISO 8601 date-time or epoch milliseconds',
    );
  else if (millis < MIN_TS) problems.push('ts is before 2000-01-01 (seconds instead of milliseconds?)');
  else if (millis > ctx.now + maxFuture)
    problems.push(`ts is more than ${Math.round(maxFuture / 3_600_000)} h in the future`);
  if (!isObject(data)) problems.push(data === undefined ? 'data is required' : 'data must be an object');
  if (problems.length) throw new BadRequestError(problems.join('; '));
  // Type, version and payload: the registry names every invalid field and upgrades old versions.
  const read = ctx.registry.read(type as string, data, v as number | undefined);
  return {
    id: (id as string | undefined) ?? randomUUID(),
    type: type as string,
    v: read.v,
    userId: userId as string,
    ts: millis!,
    receivedAt: ctx.now,
    data: read.data,
    trace: ctx.trace ?? {},
  };
}

function eventTime(ts: unknown): number | undefined {
  if (typeof ts === 'number') return Number.isSafeInteger(ts) ? ts : undefined;
  if (typeof ts === 'string' && ISO.test(ts)) {
    const ms = Date.parse(ts);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** Decodes a stored event (the log's `body`); throws when it is not one (a corrupt record). */
export function decodeEvent(body: string): StreamEvent {
  const e = JSON.parse(body) as StreamEvent;
  if (
    !isObject(e) ||
    typeof e.id !== 'string' ||
    typeof e.type !== 'string' ||
    typeof e.userId !== 'string' ||
    !isObject(e.data)
  ) {
    throw new BadRequestError('stored record is not an event');
  }
  return e;
}
