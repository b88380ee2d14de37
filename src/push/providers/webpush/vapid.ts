/**
 * VAPID (RFC 8292): an ES256 JWT `{aud: push service origin, exp, sub}` sent as
 * `Authorization: vapid t=<jwt>, k=<public key>`. The whole header is cached per origin
 * and re-signed only when it nears expiry (RFC 8292 §6 encourages reuse): signing is
 * most of the CPU a message costs when it is done per send.
 */
import {
  createECDH,
  createPrivateKey,
  generateKeyPairSync,
  sign,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { boundedCache } from '../../../core/cache/index.ts';
import { systemClock, type Clock } from '../../../core/time/index.ts';

export interface VapidKeys {
  /** Uncompressed P-256 public key (65 bytes), base64url: the `applicationServerKey`. */
  publicKey: string;
  /** The private scalar (32 bytes), base64url. */
  privateKey: string;
}

export interface VapidOptions extends VapidKeys {
  /** `mailto:` or `https:` contact of the application server. */
  subject: string;
  /** JWT lifetime; default 12 h (RFC 8292 allows at most 24 h). */
  tokenTtlSeconds?: number;
  clock?: Clock;
}

const MAX_TTL_S = 24 * 3600;
const JWT_HEADER = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'ES256' })).toString('base64url');
/** Push service origins are few (one per browser vendor); the cache is bounded anyway. */
const MAX_CACHED_ORIGINS = 256;

/** A fresh VAPID key pair in the format `web-push generate-vapid-keys` prints. */
export function generateVapidKeys(): VapidKeys {
  // JWK coordinates are always full length (RFC 7518 §6.2.1), unlike ECDH.getPrivateKey().
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const pub = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x!, 'base64url'),
    Buffer.from(jwk.y!, 'base64url'),
  ]);
  return { publicKey: pub.toString('base64url'), privateKey: jwk.d! };
}

export class VapidSigner {
  readonly publicKey: string;
  readonly #key: KeyObject;
  readonly #subject: string;
  readonly #ttlS: number;
  readonly #clock: Clock;
  /** Per origin, the least recently used out first (lru-cache). */
  readonly #cache = boundedCache<string, { header: string; renewAt: number }>(MAX_CACHED_ORIGINS);
  #signed = 0;

  constructor(opts: VapidOptions) {
    const pub = Buffer.from(opts.publicKey, 'base64url');
    const priv = Buffer.from(opts.privateKey, 'base64url');
    if (pub.length !== 65 || pub[0] !== 0x04)
      throw new TypeError('VAPID public key must be 65 bytes, uncompressed P-256');
    if (priv.length !== 32) throw new TypeError('VAPID private key must be 32 bytes');
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(priv);
    if (!timingSafeEqual(ecdh.getPublicKey(), pub))
      throw new TypeError('VAPID public key does not match the private key');
    if (!/^(mailto:|https:)/.test(opts.subject))
      throw new TypeError('VAPID subject must be a mailto: or https: URL');
    this.#ttlS = opts.tokenTtlSeconds ?? 12 * 3600;
    if (!(this.#ttlS > 60 && this.#ttlS <= MAX_TTL_S))
      throw new TypeError('VAPID token lifetime must be within (60 s, 24 h]');
    this.#key = createPrivateKey({
      format: 'jwk',
      key: {
        kty: 'EC',
        crv: 'P-256',
        d: opts.privateKey,
        x: pub.subarray(1, 33).toString('base64url'),
        y: pub.subarray(33).toString('base64url'),
      },
    });
    this.publicKey = pub.toString('base64url');
    this.#subject = opts.subject;
    this.#clock = opts.clock ?? systemClock;
  }

  /** JWTs signed so far (one per origin per lifetime). */
  get signed(): number {
    return this.#signed;
  }

  /** The `Authorization` header for a push resource on `origin` (`scheme://host[:port]`). */
  authorization(origin: string): string {
    const now = this.#clock.now();
    const cached = this.#cache.get(origin);
    if (cached && now < cached.renewAt) return cached.header;
    const exp = Math.floor(now / 1000) + this.#ttlS;
    const claims = Buffer.from(JSON.stringify({ aud: origin, exp, sub: this.#subject })).toString(
      'base64url',
    );
    const input = `${JWT_HEADER}.${claims}`;
    const sig = sign('sha256', Buffer.from(input), { key: this.#key, dsaEncoding: 'ieee-p1363' });
    this.#signed++;
    const header = `vapid t=${input}.${sig.toString('base64url')}, k=${this.publicKey}`;
    // Renew once 3/4 of the lifetime is gone: the token stays valid with margin for clock skew.
    this.#cache.set(origin, { header, renewAt: now + this.#ttlS * 750 });
    return header;
  }
}
