import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { USER_ID_RULE, isUserId } from './user-id.ts';
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  errors as joseErrors,
  type JWTPayload,
} from 'jose';
import { UnauthorizedError } from '../errors/index.ts';
import { compileGlobs } from './glob.ts';

/** Service scopes (SPEC §4). `admin` implies all of them. */
export const SCOPES = ['publish', 'events:write', 'push:send', 'analytics:read', 'gdpr', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** What a verified token grants. */
export interface Principal {
  readonly user: string;
  /** Expiry, milliseconds since the epoch. */
  readonly expiresAt: number;
  readonly scopes: ReadonlySet<string>;
  canSubscribe(channel: string): boolean;
  canPublish(channel: string): boolean;
  hasScope(scope: Scope): boolean;
}

export interface VerifierOptions {
  secret?: string | undefined;
  publicKeyPem?: string | undefined;
  jwksUrl?: string | undefined;
  audience?: string | undefined;
  issuer?: string | undefined;
  now: () => number;
}

const HMAC_ALGS = ['HS256'];
const ASYM_ALGS = ['RS256', 'ES256'];

/**
 * Verifies client and service JWTs. The algorithm set is fixed per key type, so a token
 * cannot pick its own verification (no `alg:none`, no HS256-signed-with-the-public-key).
 */
export class TokenVerifier {
  readonly #secret: KeyObject | undefined;
  readonly #publicKey: KeyObject | undefined;
  readonly #jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  readonly #opts: VerifierOptions;

  constructor(opts: VerifierOptions) {
    this.#opts = opts;
    this.#secret = opts.secret ? createSecretKey(Buffer.from(opts.secret, 'utf8')) : undefined;
    this.#publicKey = opts.publicKeyPem ? createPublicKey(opts.publicKeyPem) : undefined;
    this.#jwks = opts.jwksUrl
      ? createRemoteJWKSet(new URL(opts.jwksUrl), { cooldownDuration: 30_000 })
      : undefined;
  }

  async verify(token: unknown): Promise<Principal> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 8192) {
      throw new UnauthorizedError('token missing or malformed');
    }
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new UnauthorizedError('token malformed');
    }
    const common = {
      audience: this.#opts.audience,
      issuer: this.#opts.issuer,
      currentDate: new Date(this.#opts.now()),
      requiredClaims: ['sub', 'exp'],
    };
    let payload: JWTPayload;
    try {
      if (alg !== undefined && HMAC_ALGS.includes(alg) && this.#secret) {
        ({ payload } = await jwtVerify(token, this.#secret, { ...common, algorithms: HMAC_ALGS }));
      } else if (alg !== undefined && ASYM_ALGS.includes(alg) && this.#publicKey) {
        ({ payload } = await jwtVerify(token, this.#publicKey, { ...common, algorithms: ASYM_ALGS }));
      } else if (alg !== undefined && ASYM_ALGS.includes(alg) && this.#jwks) {
        ({ payload } = await jwtVerify(token, this.#jwks, { ...common, algorithms: ASYM_ALGS }));
      } else {
        throw new UnauthorizedError(`token algorithm ${JSON.stringify(alg)} not accepted`);
      }
    } catch (err) {
      if (err instanceof UnauthorizedError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new UnauthorizedError('token expired', { cause: err });
      if (err instanceof joseErrors.JWTClaimValidationFailed) {
        throw new UnauthorizedError(`token claim ${err.claim} invalid: ${err.reason}`, { cause: err });
      }
      throw new UnauthorizedError('token signature or format invalid', { cause: err });
    }
    return toPrincipal(payload);
  }
}

function stringList(value: unknown, claim: string): string[] {
  if (value === undefined) return [];
  if (
    !Array.isArray(value) ||
    !value.every((x) => typeof x === 'string' && x.length <= 300) ||
    value.length > 256
  ) {
    throw new UnauthorizedError(`token claim ${claim} must be an array of strings`);
  }
  return value as string[];
}

/**
 * Compiled grants and scope sets are shared between principals with the same claims
 * (most users of an app have the same few grant lists), so a connection holds
 * references, not its own RegExps and closures. Bounded: cleared when full.
 */
const MAX_CACHED = 1000;
const matcherCache = new Map<string, (channel: string) => boolean>();
const scopeCache = new Map<string, ReadonlySet<string>>();

function cachedMatcher(patterns: readonly string[]): (channel: string) => boolean {
  const key = patterns.join('\n');
  let m = matcherCache.get(key);
  if (!m) {
    if (matcherCache.size >= MAX_CACHED) matcherCache.clear();
    matcherCache.set(key, (m = compileGlobs(patterns)));
  }
  return m;
}

function cachedScopes(scope: string): ReadonlySet<string> {
  let set = scopeCache.get(scope);
  if (!set) {
    if (scopeCache.size >= MAX_CACHED) scopeCache.clear();
    scopeCache.set(scope, (set = new Set(scope.split(' ').filter(Boolean))));
  }
  return set;
}

/** The server's own channels (dashboard feeds, alerts): readable with the `analytics:read` scope. */
const SYSTEM_PREFIX = 'system:';

/** A verified token's grants; methods live on the prototype (no per-connection closures). */
class TokenPrincipal implements Principal {
  readonly user: string;
  readonly expiresAt: number;
  readonly scopes: ReadonlySet<string>;
  readonly #sub: (channel: string) => boolean;
  readonly #pub: (channel: string) => boolean;

  constructor(
    user: string,
    expiresAt: number,
    scopes: ReadonlySet<string>,
    sub: (c: string) => boolean,
    pub: (c: string) => boolean,
  ) {
    this.user = user;
    this.expiresAt = expiresAt;
    this.scopes = scopes;
    this.#sub = sub;
    this.#pub = pub;
  }

  /**
   * Own inbox, the `channels` globs, or — for `analytics:read` (or `admin`) service
   * tokens — the server's `system:` channels (the dashboard feeds). Publishing there
   * stays governed by `publish` alone.
   */
  canSubscribe(channel: string): boolean {
    return (
      (channel.startsWith('user:') &&
        channel.length === this.user.length + 5 &&
        channel.endsWith(this.user)) ||
      this.#sub(channel) ||
      (channel.startsWith(SYSTEM_PREFIX) && this.hasScope('analytics:read'))
    );
  }

  canPublish(channel: string): boolean {
    return this.#pub(channel);
  }

  hasScope(scope: Scope): boolean {
    return this.scopes.has(scope) || this.scopes.has('admin');
  }
}

function toPrincipal(p: JWTPayload): Principal {
  if (!isUserId(p.sub)) throw new UnauthorizedError(`token claim sub must be ${USER_ID_RULE}`);
  const channels = stringList(p['channels'], 'channels');
  const publish = stringList(p['publish'], 'publish');
  if (p['scope'] !== undefined && typeof p['scope'] !== 'string')
    throw new UnauthorizedError('token claim scope must be a string');
  return new TokenPrincipal(
    p.sub,
    (p.exp ?? 0) * 1000,
    cachedScopes(p['scope'] ?? ''),
    cachedMatcher(channels),
    cachedMatcher(publish),
  );
}
