import { SignJWT } from 'jose';
import { createSecretKey } from 'node:crypto';

export interface TokenClaims {
  sub: string;
  channels?: string[];
  publish?: string[];
  scope?: string;
  [claim: string]: unknown;
}

/** Signs an HS256 token: used for the development demo token and by tests and tools. */
export async function signHs256(
  secret: string,
  claims: TokenClaims,
  ttlSeconds: number,
  nowMs = Date.now(),
): Promise<string> {
  const iat = Math.floor(nowMs / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSeconds)
    .sign(createSecretKey(Buffer.from(secret, 'utf8')));
}
