/**
 * FCM HTTP v1 wire format: the `messages:send` body built from a rendered PushMessage
 * (SPEC §6 "What the providers receive"), and Google's error answers mapped to the one
 * outcome table (`shared/push-providers.md` §4.2, §4.4). Pure functions.
 */
import type { PushMessage, PushOutcome } from '../types.ts';
import { parseRetryAfter } from './retry-after.ts';

/** FCM keeps a message at most four weeks. */
export const FCM_MAX_TTL_SECONDS = 2_419_200;
/** Without `retry-after`, Google asks for at least a minute after a quota error. */
const QUOTA_DEFAULT_RETRY_MS = 60_000;

export interface FcmSendBody {
  message: {
    token: string;
    notification: { title: string; body: string };
    data: Record<string, string>;
    android: { priority: 'HIGH' | 'NORMAL'; ttl?: string; collapse_key?: string };
  };
}

/** `data` values must be strings on the wire; nested values travel as JSON. */
export function fcmData(message: PushMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(message.data ?? {})) {
    if (value === undefined) continue;
    out[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  out['notificationId'] = message.notificationId;
  return out;
}

export function buildFcmBody(token: string, message: PushMessage): FcmSendBody {
  const android: FcmSendBody['message']['android'] = {
    priority: message.priority === 'high' || message.priority === 'critical' ? 'HIGH' : 'NORMAL',
  };
  if (message.ttlSeconds !== undefined) {
    const ttl = Math.min(FCM_MAX_TTL_SECONDS, Math.max(0, Math.floor(message.ttlSeconds)));
    android.ttl = `${ttl}s`;
  }
  if (message.collapseKey !== undefined) android.collapse_key = message.collapseKey;
  return {
    message: {
      token,
      notification: { title: message.title, body: message.body },
      data: fcmData(message),
      android,
    },
  };
}

/** Google's error body, `{"error":{code,message,status,details:[…]}}`. */
interface GoogleError {
  code?: number;
  message?: string;
  status?: string;
  details?: Array<{ '@type'?: string; errorCode?: string; fieldViolations?: Array<{ field?: string }> }>;
}

export interface ParsedFcmError {
  /** FcmError.errorCode, else the canonical `status` (firebase-admin's order). */
  code: string | undefined;
  message: string;
  /** The error is about `message.token` (an invalid registration token, not our payload). */
  aboutToken: boolean;
}

export function parseFcmError(body: string): ParsedFcmError {
  let err: GoogleError | undefined;
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'object' && parsed.error !== null) err = parsed.error;
  } catch {
    // not JSON: a proxy or load balancer answered; the status code decides
  }
  const details = Array.isArray(err?.details) ? err.details : [];
  const fcm = details.find((d) => d['@type'] === 'type.googleapis.com/google.firebase.fcm.v1.FcmError');
  const violations = details.flatMap((d) => (Array.isArray(d.fieldViolations) ? d.fieldViolations : []));
  const message = typeof err?.message === 'string' ? err.message : body.slice(0, 200);
  return {
    code: fcm?.errorCode ?? err?.status,
    message,
    aboutToken: violations.some((v) => v.field === 'message.token') || /registration token/i.test(message),
  };
}

/**
 * The outcome of one `messages:send` answer. `unauthenticated` means the access token
 * was refused (401 without an FcmError): the caller refreshes it and tries once more.
 */
export function classifyFcmResponse(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
  now: number,
): PushOutcome | 'unauthenticated' {
  if (status === 200) {
    let name: string | undefined;
    try {
      const parsed = JSON.parse(body) as { name?: unknown };
      if (typeof parsed.name === 'string') name = parsed.name;
    } catch {
      // a 200 is a delivery whatever the body says
    }
    return name === undefined
      ? { kind: 'delivered', status }
      : { kind: 'delivered', status, providerId: name };
  }
  const err = parseFcmError(body);
  const reason = `${err.code ?? status}: ${err.message}`;
  const retryAfterMs = parseRetryAfter(headers['retry-after'], now);
  const retry = (fallbackMs?: number): PushOutcome => {
    const after = retryAfterMs ?? fallbackMs;
    return after === undefined
      ? { kind: 'retry', reason, status }
      : { kind: 'retry', reason, status, retryAfterMs: after };
  };
  switch (err.code) {
    case 'UNREGISTERED':
    case 'SENDER_ID_MISMATCH':
      return { kind: 'invalid-token', reason, status };
    case 'INVALID_ARGUMENT':
      return err.aboutToken ? { kind: 'invalid-token', reason, status } : { kind: 'failed', reason, status };
    case 'THIRD_PARTY_AUTH_ERROR':
    case 'PERMISSION_DENIED':
      return { kind: 'provider-error', reason, status };
    case 'QUOTA_EXCEEDED':
    case 'RESOURCE_EXHAUSTED':
      return retry(QUOTA_DEFAULT_RETRY_MS);
    case 'UNAVAILABLE':
    case 'INTERNAL':
    case 'UNSPECIFIED_ERROR':
      return retry();
    case 'UNAUTHENTICATED':
      return 'unauthenticated';
    case 'NOT_FOUND':
      // A bare NOT_FOUND (no UNREGISTERED detail) names a wrong project or URL, not a
      // dead token: deleting every device on a misconfiguration would be unrecoverable.
      return { kind: 'provider-error', reason, status };
  }
  if (status === 429) return retry(QUOTA_DEFAULT_RETRY_MS);
  if (status >= 500) return retry();
  if (status === 401) return 'unauthenticated';
  if (status === 403 || status === 404) return { kind: 'provider-error', reason, status };
  return { kind: 'failed', reason, status };
}
