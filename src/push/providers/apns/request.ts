/**
 * What APNs receives for one message (SPEC §6 "What the providers receive";
 * `shared/push-providers.md` §4.1): the JSON payload and the request headers, minus the
 * `authorization` header, which is added when the stream opens so a queued request
 * always carries the current provider token.
 */
import { randomUUID } from 'node:crypto';
import type { PushMessage } from '../types.ts';

/** Apple's limit for every push type but VoIP, measured on the raw JSON. */
export const MAX_PAYLOAD_BYTES = 4096;

export interface ApnsRequest {
  /** `/3/device/<token>` */
  path: string;
  /** The apns-* headers (lower-case names). */
  headers: Record<string, string>;
  body: Buffer;
  apnsId: string;
}

/** `{"aps":{"alert":{"title","body"}},"notificationId",…data}`; `aps` and `notificationId` win over data keys. */
export function buildPayload(message: PushMessage): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    aps: { alert: { title: message.title, body: message.body } },
    notificationId: message.notificationId,
  };
  for (const [key, value] of Object.entries(message.data ?? {})) {
    if (!(key in payload)) payload[key] = value;
  }
  return payload;
}

/** 10 (immediate) for high and critical, 5 (power-aware) otherwise. */
export function apnsPriority(priority: PushMessage['priority']): '10' | '5' {
  return priority === 'high' || priority === 'critical' ? '10' : '5';
}

export function buildRequest(
  deviceToken: string,
  message: PushMessage,
  topic: string,
  nowMs: number,
): ApnsRequest {
  const apnsId = randomUUID();
  const headers: Record<string, string> = {
    'apns-topic': topic,
    'apns-push-type': 'alert',
    'apns-priority': apnsPriority(message.priority),
    'apns-id': apnsId,
  };
  if (message.ttlSeconds !== undefined) {
    // 0 means "deliver once, do not store"; otherwise an absolute UNIX time in seconds.
    const ttl = Math.max(0, Math.floor(message.ttlSeconds));
    headers['apns-expiration'] = ttl === 0 ? '0' : String(Math.floor(nowMs / 1000) + ttl);
  }
  if (message.collapseKey !== undefined) headers['apns-collapse-id'] = message.collapseKey;
  return {
    // Encoded, not validated: APNs judges the token (BadDeviceToken), and real tokens vary in length.
    path: `/3/device/${encodeURIComponent(deviceToken)}`,
    headers,
    body: Buffer.from(JSON.stringify(buildPayload(message))),
    apnsId,
  };
}
