/**
 * The contract every push provider client (APNs, FCM, Web Push) implements, and the one
 * outcome table they all answer with (`shared/push-providers.md` §4.4). The job runner
 * acts on the outcome only, never on provider-specific status codes:
 *
 * | outcome          | what the runner does                                              |
 * |------------------|-------------------------------------------------------------------|
 * | `delivered`      | count as delivered                                                |
 * | `retry`          | retry later with backoff, honouring `retryAfterMs` when given     |
 * | `invalid-token`  | delete the device (the token/subscription is dead), count it      |
 * | `failed`         | this message cannot be delivered to this device (our bug or a     |
 * |                  | permanent refusal such as PayloadTooLarge); count as failed        |
 * | `provider-error` | the provider refuses *us* (bad credentials, permission): stop     |
 * |                  | sending through this provider, open its breaker, raise an alert   |
 *
 * A client never throws for an answer the provider gave; network errors, timeouts and
 * GOAWAY before an answer become `retry`.
 */

export type Platform = 'ios' | 'android' | 'web';
export type ProviderName = 'apns' | 'fcm' | 'webpush';
export type Priority = 'low' | 'normal' | 'high' | 'critical';

/** What one device receives, already rendered (template, locale, variant chosen). */
export interface PushMessage {
  /** Job id + recipient; every provider payload carries it so apps can send `notification.opened`. */
  notificationId: string;
  title: string;
  body: string;
  /** Extra app data (already bounded in depth and size at the edge). */
  data?: Record<string, unknown>;
  priority: Priority;
  /** Seconds the provider may keep trying; `undefined` = provider default. */
  ttlSeconds?: number;
  collapseKey?: string;
}

export interface WebPushSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export type PushTarget =
  | { platform: 'ios'; token: string }
  | { platform: 'android'; token: string }
  | { platform: 'web'; subscription: WebPushSubscription };

export type PushOutcome =
  | { kind: 'delivered'; status: number; providerId?: string }
  | { kind: 'retry'; reason: string; status?: number; retryAfterMs?: number }
  | { kind: 'invalid-token'; reason: string; status: number }
  | { kind: 'failed'; reason: string; status?: number }
  | { kind: 'provider-error'; reason: string; status?: number };

export interface PushProvider {
  readonly name: ProviderName;
  readonly platform: Platform;
  /** Sends one message to one device. Resolves with the outcome; never rejects for a provider answer. */
  send(target: PushTarget, message: PushMessage, signal?: AbortSignal): Promise<PushOutcome>;
  /** Closes connections; in-flight sends settle (as `retry` if cut). */
  close(): Promise<void>;
}
