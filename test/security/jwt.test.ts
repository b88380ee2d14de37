/** The JWT attack set, on WebSocket connect and on HTTP service calls. */
import { createServer, type Server } from 'node:http';
import { generateKeyPairSync, createSecretKey, type KeyObject } from 'node:crypto';
import { exportJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.ts';
import { startTestServer, TEST_SECRET, type TestServer } from '../helpers/server.ts';

const now = () => Math.floor(Date.now() / 1000);
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const hmac = (s: string) => createSecretKey(Buffer.from(s, 'utf8'));

async function sign(
  key: KeyObject | Uint8Array,
  alg: string,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT', ...header }).sign(key);
}

/** Tries a token on WS connect and on an HTTP service call; returns [wsOk, httpStatus]. */
async function tryToken(srv: TestServer, token: string): Promise<[boolean, number]> {
  const c = await RawClient.open(srv.wsUrl);
  const r = await c.request({ type: 'connect', token });
  const wsOk = r.type === 'connected';
  if (!wsOk) {
    expect(r).toMatchObject({ type: 'error', code: 4001 });
    expect((await c.closed).code).toBe(4001);
  } else await c.close();
  const h = await fetch(`${srv.url}/v1/channels/chat:x/history`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return [wsOk, h.status];
}

const good = () => ({ sub: 'mallory', exp: now() + 600, channels: ['*'], publish: ['*'], scope: 'admin' });

describe('HS256 secret', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({ JWT_AUDIENCE: 'backbeat', JWT_ISSUER: 'https://auth.example' });
  });
  afterAll(async () => srv.close());
  const valid = () => ({ ...good(), aud: 'backbeat', iss: 'https://auth.example' });

  it('accepts a valid token', async () => {
    expect(await tryToken(srv, await sign(hmac(TEST_SECRET), 'HS256', valid()))).toEqual([true, 200]);
  });

  it.each([
    ['alg:none (unsigned)', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(valid())}.`],
    ['alg:none with a signature', async () => `${b64({ alg: 'none' })}.${b64(valid())}.c2ln`],
    ['a wrong secret', async () => sign(hmac('another-secret-another-secret-1234'), 'HS256', valid())],
    ['HS512 (not an accepted algorithm)', async () => sign(hmac(TEST_SECRET), 'HS512', valid())],
    ['an expired token', async () => sign(hmac(TEST_SECRET), 'HS256', { ...valid(), exp: now() - 10 })],
    ['a not-yet-valid token', async () => sign(hmac(TEST_SECRET), 'HS256', { ...valid(), nbf: now() + 600 })],
    ['a wrong audience', async () => sign(hmac(TEST_SECRET), 'HS256', { ...valid(), aud: 'other' })],
    ['no audience', async () => sign(hmac(TEST_SECRET), 'HS256', { ...good(), iss: 'https://auth.example' })],
    [
      'a wrong issuer',
      async () => sign(hmac(TEST_SECRET), 'HS256', { ...valid(), iss: 'https://evil.example' }),
    ],
    ['no sub', async () => sign(hmac(TEST_SECRET), 'HS256', { ...valid(), sub: undefined })],
    ['no exp', async () => sign(hmac(TEST_SECRET), 'HS256', { ...valid(), exp: undefined })],
    [
      'a sub with illegal characters',
      async () => sign(hmac(TEST_SECRET), 'HS256', { ...valid(), sub: 'a b/c' }),
    ],
    [
      'channels not an array',
      async () => sign(hmac(TEST_SECRET), 'HS256', { ...valid(), channels: 'chat:*' }),
    ],
    [
      'a tampered payload',
      async () => {
        const t = await sign(hmac(TEST_SECRET), 'HS256', { ...valid(), scope: '' });
        const [h, , s] = t.split('.');
        return `${h}.${b64(valid())}.${s}`;
      },
    ],
    ['garbage', async () => 'not.a.token'],
    ['a huge token', async () => 'a'.repeat(10_000)],
  ])('refuses %s (WS 4001, HTTP 401)', async (_name, make) => {
    expect(await tryToken(srv, await make())).toEqual([false, 401]);
  });
});

describe('RS256 / ES256 public keys', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();

  it('RS256 with JWT_PUBLIC_KEY: accepted; HS256 signed with the public key PEM (algorithm confusion): refused', async () => {
    const srv = await startTestServer({ JWT_SECRET: '', JWT_PUBLIC_KEY: rsaPem });
    expect(await tryToken(srv, await sign(rsa.privateKey, 'RS256', good()))).toEqual([true, 200]);
    expect(await tryToken(srv, await sign(hmac(rsaPem), 'HS256', good()))).toEqual([false, 401]);
    const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(await tryToken(srv, await sign(otherRsa.privateKey, 'RS256', good()))).toEqual([false, 401]);
    await srv.close();
  });

  it('ES256 with JWT_PUBLIC_KEY', async () => {
    const srv = await startTestServer({
      JWT_SECRET: '',
      JWT_PUBLIC_KEY: ec.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    });
    expect(await tryToken(srv, await sign(ec.privateKey, 'ES256', good()))).toEqual([true, 200]);
    expect(await tryToken(srv, await sign(rsa.privateKey, 'RS256', good()))).toEqual([false, 401]);
    await srv.close();
  });

  describe('JWKS_URL', () => {
    let jwks: Server;
    let url: string;
    let hits = 0;
    beforeAll(async () => {
      const jwk: JWK = { ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
      jwks = createServer((_req, res) => {
        hits++;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys: [jwk] }));
      });
      await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/.well-known/jwks.json`;
    });
    afterAll(async () => new Promise<void>((r) => jwks.close(() => r())));

    it('verifies RS256 tokens against the key set; unknown kids and other keys are refused', async () => {
      const srv = await startTestServer({ JWT_SECRET: '', JWKS_URL: url });
      expect(await tryToken(srv, await sign(rsa.privateKey, 'RS256', good(), { kid: 'k1' }))).toEqual([
        true,
        200,
      ]);
      expect(hits).toBeGreaterThan(0);
      expect(await tryToken(srv, await sign(rsa.privateKey, 'RS256', good(), { kid: 'k9' }))).toEqual([
        false,
        401,
      ]);
      expect(await tryToken(srv, await sign(ec.privateKey, 'ES256', good(), { kid: 'k1' }))).toEqual([
        false,
        401,
      ]);
      expect(await tryToken(srv, await sign(hmac(TEST_SECRET), 'HS256', good()))).toEqual([false, 401]);
      await srv.close();
    });
  });
});
