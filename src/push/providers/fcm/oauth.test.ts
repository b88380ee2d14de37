import { generateKeyPairSync } from 'node:crypto';
import { importSPKI, jwtVerify, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/time/index.ts';
import { AccessTokenSource, FCM_SCOPE, parseServiceAccount } from './oauth.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const account = {
  client_email: 'sender@proj.iam.gserviceaccount.com',
  private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  project_id: 'proj',
  token_uri: 'https://oauth2.example/token',
};

describe('AccessTokenSource.assertion', () => {
  it('is an RS256 JWT {iss, scope, aud = token_uri, iat, exp = iat + 3600} (jose as the oracle)', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const source = new AccessTokenSource({ serviceAccount: account, requestTimeoutMs: 1000, clock });
    const jwt = source.assertion();
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'RS256', typ: 'JWT' });
    const key = await importSPKI(publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'RS256');
    const { payload } = await jwtVerify(jwt, key, {
      currentDate: new Date(clock.now()),
      audience: account.token_uri,
      issuer: account.client_email,
    });
    const iat = clock.now() / 1000;
    expect(payload).toEqual({
      iss: account.client_email,
      scope: FCM_SCOPE,
      aud: account.token_uri,
      iat,
      exp: iat + 3600,
    });
  });

  it('uses the tokenUrl override as the audience', () => {
    const source = new AccessTokenSource({
      serviceAccount: account,
      tokenUrl: 'https://127.0.0.1:9/token',
      requestTimeoutMs: 1000,
    });
    const claims = JSON.parse(Buffer.from(source.assertion().split('.')[1]!, 'base64url').toString());
    expect(claims.aud).toBe('https://127.0.0.1:9/token');
  });
});

describe('parseServiceAccount', () => {
  it('accepts the JSON text or object and names a missing field', () => {
    expect(parseServiceAccount(JSON.stringify(account)).project_id).toBe('proj');
    expect(() => parseServiceAccount({ ...account, private_key: '' })).toThrow(/private_key/);
    expect(() => parseServiceAccount({ client_email: 'x' })).toThrow(/private_key|project_id/);
    expect(() => parseServiceAccount(null)).toThrow(/JSON object/);
  });

  it('refuses a token endpoint that is not https', () => {
    expect(
      () =>
        new AccessTokenSource({
          serviceAccount: account,
          tokenUrl: 'http://127.0.0.1/token',
          requestTimeoutMs: 1,
        }),
    ).toThrow(/https/);
  });
});
