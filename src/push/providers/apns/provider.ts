/**
 * `ApnsProvider`: the APNs client of Backbeat (HTTP/2, token auth), on `node:http2` and
 * `node:crypto` only. What it sends is SPEC §6 "What the providers receive"; how it
 * talks to APNs follows `shared/push-providers.md` §4.1; every answer becomes one row of
 * the shared outcome table (`../types.ts`, §4.4).
 *
 * - One provider token (`token.ts`) for all connections, renewed at 50 min, or at once
 *   after `ExpiredProviderToken` (then that notification is sent once more).
 * - `connections` long-lived HTTP/2 connections (`connection.ts`), each with its own
 *   queue above the peer's stream limit; work goes to the least loaded one.
 * - Payloads over 4,096 bytes are refused here (`failed`, PayloadTooLarge), without a request.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../../core/observability/index.ts';
import { systemClock, type Clock } from '../../../core/time/index.ts';
import type { PushMessage, PushOutcome, PushProvider, PushTarget } from '../types.ts';
import { ApnsConnection, type ConnectionHooks } from './connection.ts';
import { EXPIRED_TOKEN, toOutcome } from './outcome.ts';
import { buildRequest, MAX_PAYLOAD_BYTES } from './request.ts';
import { ProviderToken, type TokenRenewal } from './token.ts';

export const APNS_PRODUCTION_URL = 'https://api.push.apple.com';
export const APNS_SANDBOX_URL = 'https://api.sandbox.push.apple.com';

export interface ApnsHooks extends ConnectionHooks {
  onTokenRenewed?(why: TokenRenewal): void;
  /** Every outcome `send` resolves with, and how long it took. */
  onOutcome?(outcome: PushOutcome, elapsedMs: number): void;
}

export interface ApnsProviderOptions {
  /** The .p8 signing key from Apple (PKCS#8 PEM, EC P-256). */
  key: string;
  /** The key's 10-character Key ID (JWT `kid`). */
  keyId: string;
  /** The 10-character Team ID (JWT `iss`). */
  teamId: string;
  /** The app's bundle ID (`apns-topic`). */
  topic: string;
  /** Default `https://api.push.apple.com`; `APNS_SANDBOX_URL` for development builds. */
  url?: string;
  /** HTTP/2 connections to keep (default 1). */
  connections?: number;
  /** A request without an answer after this long ends as `retry` (default 10 s). */
  requestTimeoutMs?: number;
  /** Default: `requestTimeoutMs`. */
  connectTimeoutMs?: number;
  /** PING idle connections this often (default 60 s). */
  pingIntervalMs?: number;
  /** Provider token age at which it is replaced (default 50 min; clamped to 20–59 min). */
  tokenRefreshMs?: number;
  /** Times a request the server did not process (GOAWAY, REFUSED_STREAM) is sent again (default 3). */
  maxResends?: number;
  /** Streams per connection at most, whatever APNs announces (default 1,000). */
  maxStreamsPerConnection?: number;
  /** Wall time for the token's `iat` and `apns-expiration` (default the system clock). */
  clock?: Pick<Clock, 'now'>;
  logger?: Logger;
  hooks?: ApnsHooks;
}

export class ApnsProvider implements PushProvider {
  readonly name = 'apns' as const;
  readonly platform = 'ios' as const;
  readonly #topic: string;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #hooks: ApnsHooks;
  readonly #token: ProviderToken | undefined;
  readonly #connections: ApnsConnection[];
  #closed = false;

  constructor(opts: ApnsProviderOptions) {
    if (!opts.topic) throw new Error('APNs topic (bundle ID) is required');
    const url = new URL(opts.url ?? APNS_PRODUCTION_URL);
    if (url.protocol !== 'https:') throw new Error(`APNs URL must be https, got ${url.protocol}`);
    this.#topic = opts.topic;
    this.#clock = opts.clock ?? systemClock;
    this.#hooks = opts.hooks ?? {};
    const hooks = this.#hooks;
    let token: ProviderToken | undefined;
    try {
      const tokenOpts = { key: opts.key, keyId: opts.keyId, teamId: opts.teamId, clock: this.#clock };
      token = new ProviderToken(
        opts.tokenRefreshMs === undefined ? tokenOpts : { ...tokenOpts, refreshAfterMs: opts.tokenRefreshMs },
        (why) => {
          opts.logger?.info({ why }, 'APNs provider token renewed');
          hooks.onTokenRenewed?.(why);
        },
      );
    } catch (err) {
      // A bad key must not stop the server: every send reports provider-error (breaker, alert).
      opts.logger?.error({ err: (err as Error).message }, 'APNs provider disabled: bad signing key');
    }
    this.#token = token;
    const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    const count = Math.max(1, Math.floor(opts.connections ?? 1));
    this.#connections = Array.from(
      { length: count },
      () =>
        new ApnsConnection({
          url: url.origin,
          requestTimeoutMs,
          connectTimeoutMs: opts.connectTimeoutMs ?? requestTimeoutMs,
          pingIntervalMs: opts.pingIntervalMs ?? 60_000,
          maxResends: opts.maxResends ?? 3,
          maxStreamsCap: opts.maxStreamsPerConnection ?? 1000,
          token: () => this.#currentToken(),
          logger: opts.logger,
          hooks,
        }),
    );
  }

  async send(target: PushTarget, message: PushMessage, signal?: AbortSignal): Promise<PushOutcome> {
    const started = performance.now();
    const outcome = await this.#send(target, message, signal);
    this.#hooks.onOutcome?.(outcome, performance.now() - started);
    return outcome;
  }

  /** Per connection: the peer's current stream limit, streams in flight, requests queued, live sessions. */
  stats(): { connections: ReturnType<ApnsConnection['stats']>[] } {
    return { connections: this.#connections.map((c) => c.stats()) };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#connections.map((c) => c.close()));
  }

  async #send(
    target: PushTarget,
    message: PushMessage,
    signal: AbortSignal | undefined,
  ): Promise<PushOutcome> {
    // Reasons are short codes (Apple's where one exists): fit for logs and metric labels.
    if (target.platform !== 'ios') return { kind: 'failed', reason: 'WrongPlatform' };
    if (!this.#token) return { kind: 'provider-error', reason: 'InvalidSigningKey' };
    if (this.#closed) return { kind: 'retry', reason: 'Closed' };
    const req = buildRequest(target.token, message, this.#topic, this.#clock.now());
    if (req.body.length > MAX_PAYLOAD_BYTES) return { kind: 'failed', reason: 'PayloadTooLarge' };
    const connection = this.#leastLoaded();
    let result = await connection.send(req, signal);
    const x = result.exchange;
    if (x.kind === 'answer' && x.status === 403 && x.reason === EXPIRED_TOKEN && result.jwt !== undefined) {
      // Renew (once, however many requests failed with this token) and send this notification again.
      this.#token.renewExpired(result.jwt);
      result = await connection.send(req, signal);
    }
    return toOutcome(result.exchange, this.#clock.now());
  }

  #currentToken(): string {
    if (!this.#token) throw new Error('APNs provider has no signing key');
    return this.#token.current();
  }

  #leastLoaded(): ApnsConnection {
    let best = this.#connections[0]!;
    for (const c of this.#connections) if (c.load < best.load) best = c;
    return best;
  }
}
