/**
 * Token authentication of the local APNs server (`apns-server.ts`), as Pushy's
 * `TokenAuthenticationValidatingPushNotificationHandler` checks it plus Apple's 20-minute
 * rule (`shared/push-providers.md` §4.1, §5.2). Signatures are verified with jose, so
 * the client's own node:crypto signer is checked by an independent implementation.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { compactVerify, decodeProtectedHeader } from 'jose';

export interface ApnsServerKey {
  keyId: string;
  teamId: string;
  /** PKCS#8 PEM for the client (`ApnsProvider` `key`). */
  privateKeyPem: string;
  publicKey: KeyObject;
  /** Topics (bundle IDs) this key may push to. */
  topics: string[];
}

/** What a connection remembers about provider tokens. */
export interface ConnectionAuth {
  /** The team bound at the connection's first accepted push. */
  teamId: string | undefined;
  /** The provider token last accepted on the connection, and since when (server time). */
  jwt: string | undefined;
  jwtSince: number;
}

/** Apple's answer to a request that fails validation: status and JSON `reason`. */
export class Reject extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string) {
    super(reason);
    this.status = status;
    this.reason = reason;
  }
}

const HOUR = 3_600_000;
const MIN_TOKEN_UPDATE_MS = 20 * 60_000;

export function generateKey(keyId: string, teamId: string, topics: string[]): ApnsServerKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    keyId,
    teamId,
    topics,
    publicKey,
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

/**
 * Checks `authorization` for a push to `topic` on a connection; throws `Reject` with
 * Apple's reason, else records the token on the connection. `isNew`: the connection had
 * not seen this token before.
 */
export async function authenticate(
  keys: ApnsServerKey[],
  conn: ConnectionAuth,
  authorization: string | undefined,
  topic: string,
  now: number,
): Promise<{ jwt: string; isNew: boolean }> {
  if (!authorization || !/^bearer /i.test(authorization)) throw new Reject(403, 'MissingProviderToken');
  const jwt = authorization.slice('bearer '.length).trim();
  let kid: unknown;
  try {
    const header = decodeProtectedHeader(jwt);
    if (header.alg !== 'ES256') throw new Error('alg');
    kid = header.kid;
  } catch {
    throw new Reject(403, 'InvalidProviderToken');
  }
  const key = keys.find((k) => k.keyId === kid);
  if (!key) throw new Reject(403, 'InvalidProviderToken');
  let claims: { iss?: unknown; iat?: unknown };
  try {
    const { payload } = await compactVerify(jwt, key.publicKey, { algorithms: ['ES256'] });
    claims = JSON.parse(Buffer.from(payload).toString('utf8')) as typeof claims;
  } catch {
    throw new Reject(403, 'InvalidProviderToken');
  }
  if (claims.iss !== key.teamId || typeof claims.iat !== 'number')
    throw new Reject(403, 'InvalidProviderToken');
  if (conn.teamId !== undefined && conn.teamId !== key.teamId) throw new Reject(403, 'InvalidProviderToken');
  if (!key.topics.includes(topic)) throw new Reject(400, 'TopicDisallowed');
  if (claims.iat * 1000 + HOUR < now) throw new Reject(403, 'ExpiredProviderToken');
  const isNew = conn.jwt !== jwt;
  if (isNew) {
    if (conn.jwt !== undefined && now - conn.jwtSince < MIN_TOKEN_UPDATE_MS)
      throw new Reject(429, 'TooManyProviderTokenUpdates');
    conn.jwt = jwt;
    conn.jwtSince = now;
  }
  conn.teamId = key.teamId;
  return { jwt, isNew };
}
