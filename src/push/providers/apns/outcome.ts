/**
 * APNs answers → the shared outcome table (`../types.ts`), per `shared/push-providers.md`
 * §4.1 (status and reason codes) and §4.4 (what Backbeat does with each).
 * `ExpiredProviderToken` is handled before this mapping (new token, one resend); when it
 * still comes back it maps to `retry` here.
 */
import type { PushOutcome } from '../types.ts';

/** What one HTTP/2 exchange with APNs produced. */
export type ApnsExchange =
  | { kind: 'answer'; status: number; reason?: string; apnsId?: string; retryAfter?: string }
  /** No answer: network error, stream cut, timeout, refused by us (closed, aborted). */
  | { kind: 'no-answer'; reason: string; tls?: boolean };

/** 400 reasons that mean "this token is dead" (delete the device). */
const DEAD_TOKEN_400 = new Set(['BadDeviceToken']);

/** 403 reasons that a new provider token fixes. */
export const EXPIRED_TOKEN = 'ExpiredProviderToken';

export function toOutcome(x: ApnsExchange, nowMs: number): PushOutcome {
  if (x.kind === 'no-answer') {
    // A certificate that does not verify is not transient: stop sending and alert.
    return x.tls ? { kind: 'provider-error', reason: x.reason } : { kind: 'retry', reason: x.reason };
  }
  const { status } = x;
  const reason = x.reason ?? `HTTP ${status}`;
  const retryAfterMs = parseRetryAfter(x.retryAfter, nowMs);
  if (status === 200)
    return x.apnsId ? { kind: 'delivered', status, providerId: x.apnsId } : { kind: 'delivered', status };
  if (status === 410) return { kind: 'invalid-token', reason, status };
  if (status === 400 && DEAD_TOKEN_400.has(reason)) return { kind: 'invalid-token', reason, status };
  if (status === 403) {
    return reason === EXPIRED_TOKEN
      ? retry(reason, status, retryAfterMs)
      : { kind: 'provider-error', reason, status };
  }
  if (status === 429) {
    return reason === 'TooManyProviderTokenUpdates'
      ? { kind: 'provider-error', reason, status }
      : retry(reason, status, retryAfterMs);
  }
  if (status >= 500) return retry(reason, status, retryAfterMs);
  if (status === 401) return { kind: 'provider-error', reason, status };
  // 400 (BadPriority, BadCollapseId, DeviceTokenNotForTopic, …), 404 BadPath,
  // 405 MethodNotAllowed, 413 PayloadTooLarge, anything else: this message cannot go.
  return { kind: 'failed', reason, status };
}

function retry(reason: string, status: number, retryAfterMs: number | undefined): PushOutcome {
  return retryAfterMs === undefined
    ? { kind: 'retry', reason, status }
    : { kind: 'retry', reason, status, retryAfterMs };
}

/** `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); `undefined` when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** Node's error codes for a server certificate that does not verify. */
const TLS_CODES =
  /^(ERR_TLS_CERT_ALTNAME_INVALID|CERT_|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT)/;

export function isTlsError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TLS_CODES.test(code);
}

/** A short reason for a network-level error: its code, else its message. */
export function errorReason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e?.code === 'string') return e.code;
  if (typeof e?.message === 'string') return e.message;
  return String(err);
}
