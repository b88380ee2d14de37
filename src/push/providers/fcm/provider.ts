/**
 * FCM HTTP v1 client: one `POST /v1/projects/{id}/messages:send` per device over a reused
 * HTTP/2 session, authorized with an OAuth2 access token from the service account (cached,
 * refreshed once on a 401). Answers with the shared outcome table (`../types.ts`).
 */
import type { Logger } from '../../../core/observability/index.ts';
import { systemClock, type Clock } from '../../../core/time/index.ts';
import type { PushMessage, PushOutcome, PushProvider, PushTarget } from '../types.ts';
import { H2RequestError, Http2Client } from './h2-client.ts';
import { buildFcmBody, classifyFcmResponse } from './message.ts';
import { AccessTokenError, AccessTokenSource, parseServiceAccount, type ServiceAccount } from './oauth.ts';

export const FCM_URL = 'https://fcm.googleapis.com';

export interface FcmProviderOptions {
  /** The parsed service-account JSON (client_email, private_key, project_id, token_uri). */
  serviceAccount: ServiceAccount;
  /** FCM origin; default https://fcm.googleapis.com. */
  url?: string;
  /** OAuth2 token endpoint; default the service account's `token_uri`. */
  tokenUrl?: string;
  /** Per send (and per token request), including the wait for a stream slot. Default 10 s (Google's advice). */
  requestTimeoutMs?: number;
  /** Cap on concurrent streams whatever the peer allows (default 1000; FCM allows ~100). */
  maxStreams?: number;
  logger?: Logger;
  clock?: Clock;
}

export class FcmProvider implements PushProvider {
  readonly name = 'fcm' as const;
  readonly platform = 'android' as const;
  readonly #path: string;
  readonly #h2: Http2Client;
  readonly #tokens: AccessTokenSource;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;

  constructor(opts: FcmProviderOptions) {
    const sa = parseServiceAccount(opts.serviceAccount);
    const origin = new URL(opts.url ?? FCM_URL);
    if (origin.protocol !== 'https:') throw new TypeError('FCM URL must be https');
    this.#timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.#clock = opts.clock ?? systemClock;
    this.#logger = opts.logger;
    this.#path = `/v1/projects/${encodeURIComponent(sa.project_id)}/messages:send`;
    this.#h2 = new Http2Client(
      origin.origin,
      opts.maxStreams === undefined ? {} : { maxStreams: opts.maxStreams },
    );
    this.#tokens = new AccessTokenSource({
      serviceAccount: sa,
      ...(opts.tokenUrl === undefined ? {} : { tokenUrl: opts.tokenUrl }),
      requestTimeoutMs: this.#timeoutMs,
      clock: this.#clock,
    });
  }

  /** Token requests made so far (one per access-token lifetime, plus refreshes after a 401). */
  get tokenFetches(): number {
    return this.#tokens.fetches;
  }

  /** HTTP/2 sessions opened so far (1 + reconnects after GOAWAY or close). */
  get sessionsOpened(): number {
    return this.#h2.sessionsOpened;
  }

  async send(target: PushTarget, message: PushMessage, signal?: AbortSignal): Promise<PushOutcome> {
    if (target.platform !== 'android')
      return { kind: 'failed', reason: `fcm cannot send to ${target.platform}` };
    const body = JSON.stringify(buildFcmBody(target.token, message));
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    const abort = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const first = await this.#attempt(body, abort);
    if (first !== 'unauthenticated') return first;
    // The access token was refused (expired early, revoked): fetch a new one, once.
    const second = await this.#attempt(body, abort);
    if (second !== 'unauthenticated') return second;
    this.#logger?.error({ provider: 'fcm' }, 'FCM refused a freshly fetched access token');
    return {
      kind: 'provider-error',
      reason: 'UNAUTHENTICATED: access token refused after a refresh',
      status: 401,
    };
  }

  async close(): Promise<void> {
    await this.#h2.close();
  }

  async #attempt(body: string, signal: AbortSignal): Promise<PushOutcome | 'unauthenticated'> {
    let token: string;
    try {
      token = await this.#tokens.get();
    } catch (err) {
      if (!(err instanceof AccessTokenError)) throw err;
      this.#logger?.warn({ provider: 'fcm', err: err.message }, 'FCM access token request failed');
      if (err.kind === 'provider-error')
        return { kind: 'provider-error', reason: err.message, status: err.status };
      return { kind: 'retry', reason: err.message, status: err.status, retryAfterMs: err.retryAfterMs };
    }
    try {
      const res = await this.#h2.request(
        {
          ':method': 'POST',
          ':path': this.#path,
          authorization: `Bearer ${token}`,
          'content-type': 'application/json; charset=UTF-8',
        },
        body,
        signal,
      );
      const outcome = classifyFcmResponse(res.status, res.headers, res.body, this.#clock.now());
      if (outcome === 'unauthenticated') this.#tokens.invalidate(token);
      return outcome;
    } catch (err) {
      if (!(err instanceof H2RequestError)) throw err;
      return { kind: 'retry', reason: err.timeout ? 'timeout' : err.message };
    }
  }
}
