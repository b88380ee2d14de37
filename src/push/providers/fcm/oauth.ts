/**
 * Google OAuth2 access tokens for FCM HTTP v1 from a service account (JWT-bearer grant,
 * https://developers.google.com/identity/protocols/oauth2/service-account): an RS256
 * assertion `{iss: client_email, scope, aud: token_uri, iat, exp}` is exchanged at the
 * token endpoint for an access token, which is cached until shortly before it expires.
 * One refresh is in flight at a time however many sends need a token.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { request } from 'node:https';
import { systemClock, type Clock } from '../../../core/time/index.ts';
import { parseRetryAfter } from './retry-after.ts';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
export const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Google accepts assertions valid for at most one hour. */
const ASSERTION_LIFETIME_S = 3600;
/** Refresh this long before expiry (capped at a tenth of the token's lifetime). */
const REFRESH_MARGIN_MS = 5 * 60_000;

/** The fields of a Google service-account JSON file that FCM needs. */
export interface ServiceAccount {
  client_email: string;
  private_key: string;
  project_id: string;
  token_uri?: string;
}

/** A token request that failed; `kind` says what the send it was for should answer. */
export class AccessTokenError extends Error {
  readonly kind: 'retry' | 'provider-error';
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, kind: 'retry' | 'provider-error', status?: number, retryAfterMs?: number) {
    super(message);
    this.name = 'AccessTokenError';
    this.kind = kind;
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

export interface AccessTokenSourceOptions {
  serviceAccount: ServiceAccount;
  /** Defaults to the service account's `token_uri`, else Google's. */
  tokenUrl?: string;
  requestTimeoutMs: number;
  clock?: Clock;
}

export function parseServiceAccount(input: unknown): ServiceAccount {
  const json: unknown = typeof input === 'string' ? JSON.parse(input) : input;
  if (typeof json !== 'object' || json === null) throw new TypeError('service account: not a JSON object');
  const sa = json as Record<string, unknown>;
  for (const field of ['client_email', 'private_key', 'project_id']) {
    if (typeof sa[field] !== 'string' || sa[field] === '')
      throw new TypeError(`service account: missing ${field}`);
  }
  if (sa['token_uri'] !== undefined && typeof sa['token_uri'] !== 'string') {
    throw new TypeError('service account: token_uri is not a string');
  }
  return sa as unknown as ServiceAccount;
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

export class AccessTokenSource {
  readonly #email: string;
  readonly #key: KeyObject;
  readonly #tokenUrl: URL;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  #token: { value: string; refreshAt: number } | undefined;
  #refreshing: Promise<string> | undefined;
  #fetches = 0;

  constructor(opts: AccessTokenSourceOptions) {
    const sa = parseServiceAccount(opts.serviceAccount);
    this.#email = sa.client_email;
    this.#key = createPrivateKey(sa.private_key);
    this.#tokenUrl = new URL(opts.tokenUrl ?? sa.token_uri ?? GOOGLE_TOKEN_URI);
    if (this.#tokenUrl.protocol !== 'https:') throw new TypeError('FCM token URL must be https');
    this.#timeoutMs = opts.requestTimeoutMs;
    this.#clock = opts.clock ?? systemClock;
  }

  /** How many token requests were made (for metrics and tests). */
  get fetches(): number {
    return this.#fetches;
  }

  /** A valid access token: the cached one, or the result of the (single) refresh in flight. */
  get(): Promise<string> {
    const cached = this.#token;
    if (cached && this.#clock.now() < cached.refreshAt) return Promise.resolve(cached.value);
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  /** Drops `token` if it is still the cached one (the server said it is no longer valid). */
  invalidate(token: string): void {
    if (this.#token?.value === token) this.#token = undefined;
  }

  /** The RS256 assertion of the JWT-bearer grant. */
  assertion(): string {
    const iat = Math.floor(this.#clock.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
    const claims = b64url(
      JSON.stringify({
        iss: this.#email,
        scope: FCM_SCOPE,
        aud: this.#tokenUrl.href,
        iat,
        exp: iat + ASSERTION_LIFETIME_S,
      }),
    );
    const input = `${header}.${claims}`;
    return `${input}.${sign('sha256', Buffer.from(input), this.#key).toString('base64url')}`;
  }

  async #refresh(): Promise<string> {
    this.#fetches++;
    const form = new URLSearchParams({ grant_type: JWT_BEARER, assertion: this.assertion() }).toString();
    const started = this.#clock.now();
    const res = await this.#post(form);
    if (res.status !== 200) {
      const reason = `token endpoint answered ${res.status}: ${res.body.slice(0, 200)}`;
      // 400 invalid_grant / 401 invalid_client: our credentials (or clock) are wrong.
      if (res.status === 429 || res.status >= 500) {
        throw new AccessTokenError(
          reason,
          'retry',
          res.status,
          parseRetryAfter(res.retryAfter, this.#clock.now()),
        );
      }
      throw new AccessTokenError(reason, 'provider-error', res.status);
    }
    let parsed: { access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(res.body) as typeof parsed;
    } catch {
      throw new AccessTokenError('token endpoint answered invalid JSON', 'retry', res.status);
    }
    const { access_token: value, expires_in: expiresIn } = parsed;
    if (typeof value !== 'string' || typeof expiresIn !== 'number' || !(expiresIn > 0)) {
      throw new AccessTokenError(
        'token endpoint answered without access_token/expires_in',
        'retry',
        res.status,
      );
    }
    const lifetimeMs = expiresIn * 1000;
    this.#token = { value, refreshAt: started + lifetimeMs - Math.min(REFRESH_MARGIN_MS, lifetimeMs / 10) };
    return value;
  }

  #post(form: string): Promise<{ status: number; body: string; retryAfter: string | undefined }> {
    return new Promise((resolve, reject) => {
      const req = request(
        this.#tokenUrl,
        {
          method: 'POST',
          agent: false,
          timeout: this.#timeoutMs,
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(form),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              retryAfter: res.headers['retry-after'],
            }),
          );
          res.on('error', (err) => reject(new AccessTokenError(`token response: ${err.message}`, 'retry')));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.#timeoutMs} ms`)));
      req.on('error', (err) => reject(new AccessTokenError(`token request failed: ${err.message}`, 'retry')));
      req.end(form);
    });
  }
}
