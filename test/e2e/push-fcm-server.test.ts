/**
 * The local FCM service is itself protocol-true (push-providers.md §5.2): it verifies the
 * JWT-bearer assertion as Google does, answers HTTP/1.1 as well as HTTP/2, and refuses a
 * Message FCM would refuse, with Google's error JSON. Raw requests, no Backbeat client.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFcmServer, type FcmServer } from '../helpers/push-servers/fcm-server.ts';

const SEND = '/v1/projects/backbeat-test/messages:send';
let fcm: FcmServer;

beforeAll(async () => {
  fcm = await startFcmServer();
});
afterAll(async () => {
  await fcm.close();
});

/** FCM answers `{"error":{…}}` or `{"name"}`; the token endpoint `{"error":"…"}` or `{"access_token",…}`. */
interface Answer {
  status: number;
  json: {
    access_token?: string;
    name?: string;
    error?: {
      code: number;
      status: string;
      message: string;
      details: Array<{ '@type': string; errorCode?: string; fieldViolations?: Array<{ field: string }> }>;
    };
  };
}

function post(path: string, body: string, headers: Record<string, string>) {
  return new Promise<Answer>((resolve, reject) => {
    const req = request(`${fcm.url}${path}`, { method: 'POST', agent: false, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Answer['json'] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function tokenRequest(claims: Record<string, unknown>, key = fcm.serviceAccount['private_key']!) {
  const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc(claims)}`;
  const jwt = `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
  const form = new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
    assertion: jwt,
  });
  return post('/token', form.toString(), { 'content-type': 'application/x-www-form-urlencoded' });
}

function claims(over: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: fcm.serviceAccount['client_email'],
    scope: 'https://www.googleapis.com/auth/firebase.messaging',
    aud: fcm.tokenUrl,
    iat: now,
    exp: now + 3600,
    ...over,
  };
}

describe('the local FCM service', () => {
  it('verifies the JWT-bearer assertion: signature, aud, scope, lifetime', async () => {
    const ok = await tokenRequest(claims());
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3599,
      access_token: expect.any(String),
    });
    const now = Math.floor(Date.now() / 1000);
    for (const bad of [
      { aud: 'https://elsewhere/token' },
      { scope: 'email' },
      // iat pinned too: claims() reads the clock again, and a second boundary between the
      // two reads would make this a legal 3,600 s lifetime.
      { iat: now, exp: now + 3601 },
      { iss: 'x@y' },
    ]) {
      const res = await tokenRequest(claims(bad));
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ error: 'invalid_grant' });
    }
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(
      (await tokenRequest(claims(), privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())).json,
    ).toEqual({
      error: 'invalid_grant',
      error_description: 'Invalid JWT Signature.',
    });
  });

  it('answers HTTP/1.1 too: bearer check, then the Message checks, with Google-shaped errors', async () => {
    const unauth = await post(SEND, '{}', { 'content-type': 'application/json' });
    expect(unauth.status).toBe(401);
    expect(unauth.json).toMatchObject({ error: { code: 401, status: 'UNAUTHENTICATED' } });
    const auth = {
      authorization: `Bearer ${(await tokenRequest(claims({ scope: 'https://www.googleapis.com/auth/cloud-platform' }))).json.access_token}`,
      'content-type': 'application/json',
    };
    const send = (message: object) => post(SEND, JSON.stringify({ message }), auth);

    const numeric = await send({ token: 'tok', data: { n: 1 } });
    expect(numeric.status).toBe(400);
    expect(numeric.json.error?.details[0]?.fieldViolations?.[0]?.field).toBe('message.data[0].value');
    expect((await send({ token: 'tok', topic: 'news' })).status).toBe(400);
    expect((await send({})).json.error?.message).toBe('Recipient of the message is not set.');
    expect(
      (await send({ token: 'tok', android: { ttl: '3600' } })).json.error?.details[0]?.fieldViolations?.[0]
        ?.field,
    ).toBe('message.android.ttl');
    expect((await send({ token: 'tok', android: { priority: 'URGENT' } })).status).toBe(400);
    const badToken = await send({ token: 'not a token' });
    expect(badToken.json.error?.details[0]).toEqual({
      '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError',
      errorCode: 'INVALID_ARGUMENT',
    });
    const ok = await send({ token: 'tok', android: { ttl: '3.5s', priority: 'HIGH' } });
    expect(ok.status).toBe(200);
    expect(ok.json.name).toMatch(/^projects\/backbeat-test\/messages\//);
    expect(
      (await post('/v1/projects/other/messages:send', '{"message":{"token":"t"}}', auth)).json.error?.status,
    ).toBe('PERMISSION_DENIED');
    expect(fcm.requests.every((r) => r.httpVersion === '1.1')).toBe(true);
    expect(fcm.messages).toHaveLength(1);
  });
});
