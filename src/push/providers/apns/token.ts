/**
 * The APNs provider token: a JWT signed ES256 with the team's .p8 key
 * (`shared/push-providers.md` §4.1). One token is shared by every connection of the
 * provider and reused until it is `refreshAfterMs` old (50 min by default; Apple wants a
 * new one no more often than every 20 min and no less often than every 60 min). The only
 * earlier renewal is after APNs answered 403 `ExpiredProviderToken` for the token we
 * hold (clock skew, or a token Apple stopped honouring).
 *
 * Signing uses `node:crypto` with a cached `KeyObject` (~27 µs per token, where jose's
 * `SignJWT` costs ~155 µs), with the JOSE R‖S signature encoding (`ieee-p1363`).
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import type { Clock } from '../../../core/time/index.ts';

export const MIN_TOKEN_AGE_MS = 20 * 60_000;
export const MAX_TOKEN_AGE_MS = 60 * 60_000;
export const DEFAULT_TOKEN_REFRESH_MS = 50 * 60_000;

export interface ProviderTokenOptions {
  /** The .p8 signing key (PKCS#8 PEM, EC P-256). */
  key: string;
  keyId: string;
  teamId: string;
  clock: Pick<Clock, 'now'>;
  /** Age at which the token is replaced; clamped to [20 min, 59 min]. */
  refreshAfterMs?: number;
}

/** Why a token was minted: first use, age, or APNs said ExpiredProviderToken. */
export type TokenRenewal = 'initial' | 'age' | 'expired';

/** Parses the signing key; throws a readable error when it is not an EC P-256 private key. */
export function parseSigningKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`APNs signing key does not parse: ${(err as Error).message}`);
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new Error(
      `APNs signing key must be EC P-256 (ES256), got ${key.asymmetricKeyType ?? '?'} ${curve ?? ''}`.trim(),
    );
  }
  return key;
}

export class ProviderToken {
  readonly #key: KeyObject;
  readonly #header: string;
  readonly #teamId: string;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #refreshAfterMs: number;
  #jwt: string | undefined;
  #issuedAtMs = 0;
  #onRenew: ((why: TokenRenewal) => void) | undefined;

  constructor(opts: ProviderTokenOptions, onRenew?: (why: TokenRenewal) => void) {
    this.#key = parseSigningKey(opts.key);
    this.#header = b64url(JSON.stringify({ alg: 'ES256', kid: opts.keyId }));
    this.#teamId = opts.teamId;
    this.#clock = opts.clock;
    const refresh = opts.refreshAfterMs ?? DEFAULT_TOKEN_REFRESH_MS;
    this.#refreshAfterMs = Math.min(Math.max(refresh, MIN_TOKEN_AGE_MS), MAX_TOKEN_AGE_MS - 60_000);
    this.#onRenew = onRenew;
  }

  /** The token to send now; minted on first use (not at construction) and when it is due. */
  current(): string {
    if (this.#jwt === undefined) return this.#mint('initial');
    if (this.#clock.now() - this.#issuedAtMs >= this.#refreshAfterMs) return this.#mint('age');
    return this.#jwt;
  }

  /**
   * APNs answered ExpiredProviderToken for `used`. Renews once: when several in-flight
   * requests fail with the same token, only the first one mints; the others get the new one.
   */
  renewExpired(used: string): string {
    if (used === this.#jwt) return this.#mint('expired');
    return this.current();
  }

  #mint(why: TokenRenewal): string {
    const now = this.#clock.now();
    const claims = b64url(JSON.stringify({ iss: this.#teamId, iat: Math.floor(now / 1000) }));
    const input = `${this.#header}.${claims}`;
    const signature = sign('sha256', Buffer.from(input), { key: this.#key, dsaEncoding: 'ieee-p1363' });
    this.#jwt = `${input}.${signature.toString('base64url')}`;
    this.#issuedAtMs = now;
    this.#onRenew?.(why);
    return this.#jwt;
  }
}

function b64url(s: string): string {
  return Buffer.from(s).toString('base64url');
}
