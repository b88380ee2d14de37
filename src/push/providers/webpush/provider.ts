/**
 * Web Push client (RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID) on node:crypto
 * and node:https: one POST per subscription endpoint over keep-alive connections, body
 * `{"title","body","notificationId","data"}` encrypted with aes128gcm, `TTL`, `Urgency`,
 * `Topic` from the message (SPEC §6). Answers with the shared outcome table.
 */
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:https';
import type { Logger } from '../../../core/observability/index.ts';
import { systemClock, type Clock } from '../../../core/time/index.ts';
import { parseRetryAfter } from '../fcm/retry-after.ts';
import type {
  Priority,
  PushMessage,
  PushOutcome,
  PushProvider,
  PushTarget,
  WebPushSubscription,
} from '../types.ts';
import { decodeSubscriptionKeys, encryptAes128gcm, MAX_PLAINTEXT_BYTES } from './ece.ts';
import { VapidSigner } from './vapid.ts';

/** RFC 8030 leaves TTL to the sender; four weeks is what `web-push` and FCM use. */
export const DEFAULT_TTL_SECONDS = 2_419_200;
const TOPIC_RE = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_ERROR_BODY = 4096;

export interface WebPushProviderOptions {
  vapid: { publicKey: string; privateKey: string; subject: string; tokenTtlSeconds?: number };
  /** Per send, connection included. Default 10 s. */
  requestTimeoutMs?: number;
  /** Keep-alive connections per push-service origin. Default 64. */
  maxSocketsPerOrigin?: number;
  logger?: Logger;
  clock?: Clock;
}

/** A request ready to go: what `send` writes, exposed for measurement and tests. */
export interface PreparedPush {
  url: URL;
  headers: Record<string, string>;
  body: Buffer;
}

export function urgencyFor(priority: Priority): 'low' | 'normal' | 'high' {
  return priority === 'high' || priority === 'critical' ? 'high' : priority;
}

/** RFC 8030 §5.4: a Topic is ≤ 32 URL-safe base64 characters; longer or other keys are hashed. */
export function topicFor(collapseKey: string): string {
  if (TOPIC_RE.test(collapseKey)) return collapseKey;
  return createHash('sha256').update(collapseKey).digest('base64url').slice(0, 32);
}

/** The plaintext every subscription receives (SPEC §6). */
export function webPushPayload(message: PushMessage): Buffer {
  return Buffer.from(
    JSON.stringify({
      title: message.title,
      body: message.body,
      notificationId: message.notificationId,
      data: message.data ?? {},
    }),
  );
}

export class WebPushProvider implements PushProvider {
  readonly name = 'webpush' as const;
  readonly platform = 'web' as const;
  readonly #vapid: VapidSigner;
  readonly #agent: Agent;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;

  constructor(opts: WebPushProviderOptions) {
    this.#clock = opts.clock ?? systemClock;
    this.#vapid = new VapidSigner({ ...opts.vapid, clock: this.#clock });
    this.#timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.#logger = opts.logger;
    // One agent pools keep-alive sockets per origin (host:port), `maxSockets` each.
    this.#agent = new Agent({
      keepAlive: true,
      maxSockets: opts.maxSocketsPerOrigin ?? 64,
      scheduling: 'lifo',
    });
  }

  /** VAPID JWTs signed so far (one per push-service origin per token lifetime). */
  get vapidSignatures(): number {
    return this.#vapid.signed;
  }

  /** Encrypts and builds the request, or says why this message cannot go to this subscription. */
  prepare(subscription: WebPushSubscription, message: PushMessage): PreparedPush | PushOutcome {
    let url: URL;
    try {
      url = new URL(subscription.endpoint);
    } catch {
      return { kind: 'failed', reason: 'subscription endpoint is not a URL' };
    }
    if (url.protocol !== 'https:') return { kind: 'failed', reason: 'subscription endpoint is not https' };
    let keys;
    try {
      keys = decodeSubscriptionKeys(subscription.keys);
    } catch (err) {
      return { kind: 'failed', reason: (err as Error).message };
    }
    const plaintext = webPushPayload(message);
    if (plaintext.length > MAX_PLAINTEXT_BYTES) {
      return {
        kind: 'failed',
        reason: `payload of ${plaintext.length} bytes exceeds ${MAX_PLAINTEXT_BYTES}`,
      };
    }
    const body = encryptAes128gcm(plaintext, keys);
    const ttl = Math.max(0, Math.floor(message.ttlSeconds ?? DEFAULT_TTL_SECONDS));
    const headers: Record<string, string> = {
      authorization: this.#vapid.authorization(url.origin),
      ttl: String(ttl),
      urgency: urgencyFor(message.priority),
      'content-encoding': 'aes128gcm',
      'content-type': 'application/octet-stream',
      'content-length': String(body.length),
    };
    if (message.collapseKey !== undefined) headers['topic'] = topicFor(message.collapseKey);
    return { url, headers, body };
  }

  async send(target: PushTarget, message: PushMessage, signal?: AbortSignal): Promise<PushOutcome> {
    if (target.platform !== 'web')
      return { kind: 'failed', reason: `webpush cannot send to ${target.platform}` };
    const prepared = this.prepare(target.subscription, message);
    if (!('url' in prepared)) return prepared;
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    const abort = signal ? AbortSignal.any([signal, deadline]) : deadline;
    try {
      const res = await this.#post(prepared, abort);
      return this.#classify(res);
    } catch (err) {
      if (deadline.aborted) return { kind: 'retry', reason: 'timeout' };
      if (signal?.aborted) return { kind: 'retry', reason: 'aborted' };
      this.#logger?.debug({ provider: 'webpush', err: (err as Error).message }, 'web push request failed');
      return { kind: 'retry', reason: `network: ${(err as Error).message}` };
    }
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }

  #classify(res: {
    status: number;
    location: string | undefined;
    retryAfter: string | undefined;
    body: string;
  }): PushOutcome {
    const { status } = res;
    if (status >= 200 && status < 300) {
      return res.location === undefined
        ? { kind: 'delivered', status }
        : { kind: 'delivered', status, providerId: res.location };
    }
    const reason = `${status}${res.body ? `: ${res.body.slice(0, 200)}` : ''}`;
    if (status === 404 || status === 410) return { kind: 'invalid-token', reason, status };
    if (status === 429 || status >= 500) {
      const retryAfterMs = parseRetryAfter(res.retryAfter, this.#clock.now());
      return retryAfterMs === undefined
        ? { kind: 'retry', reason, status }
        : { kind: 'retry', reason, status, retryAfterMs };
    }
    if (status === 401 || status === 403) {
      this.#logger?.error(
        { provider: 'webpush', status, reason },
        'push service refused our VAPID credentials',
      );
      return { kind: 'provider-error', reason, status };
    }
    return { kind: 'failed', reason, status };
  }

  #post(
    prepared: PreparedPush,
    signal: AbortSignal,
  ): Promise<{ status: number; location: string | undefined; retryAfter: string | undefined; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        prepared.url,
        { method: 'POST', agent: this.#agent, headers: prepared.headers, signal },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= MAX_ERROR_BODY) chunks.push(c);
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              location: res.headers.location,
              retryAfter: res.headers['retry-after'],
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(prepared.body);
    });
  }
}
