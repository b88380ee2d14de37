/**
 * The local APNs server is itself held to Apple's protocol (push-providers.md §4.1, §5.2):
 * raw HTTP/2 requests, provider tokens signed by jose (not by the client under test),
 * Pushy's validation order (each case breaks two rules and expects the earlier one),
 * token auth, the 20-minute rule, one stream until a valid token, and body checks.
 */
import { connect, type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import { importPKCS8, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/time/index.ts';
import {
  startApnsServer,
  type ApnsServerKey,
  type ApnsTestServer,
} from '../helpers/push-servers/apns-server.ts';

const TOKEN = 'ab'.repeat(32);
const MIN = 60_000;
const opened: Array<ApnsTestServer | ClientHttp2Session> = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) {
    if ('destroy' in o) o.destroy();
    else await o.close();
  }
});

interface Answer {
  status: number;
  apnsId: string | undefined;
  json: Record<string, unknown> | undefined;
}

function session(server: ApnsTestServer): ClientHttp2Session {
  const s = connect(server.url);
  s.on('error', () => undefined);
  opened.push(s);
  return s;
}

function request(
  s: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: string | Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = s.request({ ':method': 'POST', ...headers }, { endStream: false });
    let status = 0;
    let apnsId: string | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      apnsId = h['apns-id'] as string | undefined;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      resolve({ status, apnsId, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined });
    });
    stream.end(body);
  });
}

async function jwt(
  key: ApnsServerKey,
  iatMs: number,
  over: { iss?: string; kid?: string } = {},
): Promise<string> {
  return new SignJWT({ iss: over.iss ?? key.teamId })
    .setProtectedHeader({ alg: 'ES256', kid: over.kid ?? key.keyId })
    .setIssuedAt(Math.floor(iatMs / 1000))
    .sign(await importPKCS8(key.privateKeyPem, 'ES256'));
}

async function setup(opts: Parameters<typeof startApnsServer>[0] = {}) {
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
  const server = await startApnsServer({ now: () => clock.now(), ...opts });
  opened.push(server);
  const bearer = `bearer ${await jwt(server.key, clock.now())}`;
  const ok: OutgoingHttpHeaders = {
    ':path': `/3/device/${TOKEN}`,
    'apns-topic': server.topic,
    authorization: bearer,
  };
  return { clock, server, ok, s: session(server) };
}

const APS = JSON.stringify({ aps: { alert: 'hi' } });
const reasonOf = (a: Answer) => `${a.status} ${String(a.json?.reason)}`;

describe('local APNs server: validation in Pushy’s order', () => {
  it('accepts a valid request: 200, empty body, the apns-id echoed (or generated)', async () => {
    const { server, ok, s } = await setup();
    const id = '3f0a9b6e-2c1d-4e8f-9a7b-6c5d4e3f2a1b';
    expect(await request(s, { ...ok, 'apns-id': id }, APS)).toEqual({
      status: 200,
      apnsId: id,
      json: undefined,
    });
    expect((await request(s, ok, APS)).apnsId).toMatch(/^[0-9a-f-]{36}$/);
    expect(server.requests.map((r) => r.token)).toEqual([TOKEN, TOKEN]);
  });

  it('answers the first broken rule of each pair', async () => {
    const { server, ok, s } = await setup();
    server.expireToken('cd'.repeat(32), 1_700_000_000_000);
    server.setTokenTopic('ef'.repeat(32), 'com.other');
    const cases: Array<[OutgoingHttpHeaders, string]> = [
      [{ 'apns-id': 'not-a-uuid', ':method': 'GET' }, '400 BadMessageId'],
      [{ ':method': 'PUT', 'apns-topic': '' }, '405 MethodNotAllowed'],
      [{ 'apns-topic': '', 'apns-priority': '7' }, '400 MissingTopic'],
      [{ 'apns-collapse-id': 'x'.repeat(65), 'apns-priority': '7' }, '400 BadCollapseId'],
      [{ 'apns-priority': '7', 'apns-push-type': 'bogus' }, '400 BadPriority'],
      [{ 'apns-push-type': 'bogus', ':path': '/4/device/ab' }, '400 InvalidPushType'],
      [{ ':path': '/4/device/ab', authorization: 'nope' }, '404 BadPath'],
      [{ ':path': '/3/device/', authorization: 'nope' }, '400 MissingDeviceToken'],
      [{ ':path': '/3/device/xyz', authorization: 'nope' }, '400 BadDeviceToken'],
      [{ 'apns-expiration': 'soon', authorization: 'nope' }, '400 BadExpirationDate'],
      [{ ':path': `/3/device/${'ef'.repeat(32)}`, authorization: 'nope' }, '400 DeviceTokenNotForTopic'],
      [{ authorization: 'nope' }, '403 MissingProviderToken'],
    ];
    for (const [headers, expected] of cases) {
      expect([headers, reasonOf(await request(s, { ...ok, ...headers }, ''))]).toEqual([headers, expected]);
    }
    const gone = await request(
      s,
      { ...ok, ':path': `/3/device/${'cd'.repeat(32)}`, authorization: 'nope' },
      APS,
    );
    expect(gone.json).toEqual({ reason: 'Unregistered', timestamp: 1_700_000_000_000 });
    expect(server.requests).toHaveLength(0);
  });

  it('checks the body after auth: PayloadEmpty, PayloadTooLarge (413), JSON with aps', async () => {
    const { ok, s } = await setup();
    expect(reasonOf(await request(s, ok, ''))).toBe('400 PayloadEmpty');
    expect(reasonOf(await request(s, ok, JSON.stringify({ aps: {}, x: 'y'.repeat(4100) })))).toBe(
      '413 PayloadTooLarge',
    );
    expect(reasonOf(await request(s, ok, 'not json'))).toBe('400 BadPayload');
    expect(reasonOf(await request(s, ok, JSON.stringify({ notAps: 1 })))).toBe('400 BadPayload');
    const exactly = JSON.stringify({ aps: {}, x: '' });
    expect(
      (await request(s, ok, JSON.stringify({ aps: {}, x: 'y'.repeat(4096 - exactly.length) }))).status,
    ).toBe(200);
  });
});

describe('local APNs server: token auth', () => {
  it('rejects tokens that do not verify, name an unknown key, another team, or are over an hour old', async () => {
    const { clock, server, ok, s } = await setup();
    const valid = await jwt(server.key, clock.now());
    const [h, c] = valid.split('.');
    const otherClaims = Buffer.from(JSON.stringify({ iss: server.key.teamId, iat: 1 })).toString('base64url');
    const cases: Array<[string, string]> = [
      ['bearer garbage', '403 InvalidProviderToken'],
      [`bearer ${h}.${otherClaims}.${valid.split('.')[2]}`, '403 InvalidProviderToken'],
      [`bearer ${await jwt(server.key, clock.now(), { kid: 'UNKNOWNKID' })}`, '403 InvalidProviderToken'],
      [`bearer ${await jwt(server.key, clock.now(), { iss: 'OTHERTEAM1' })}`, '403 InvalidProviderToken'],
      [`bearer ${h}.${c}.${Buffer.alloc(64).toString('base64url')}`, '403 InvalidProviderToken'],
      [`bearer ${await jwt(server.key, clock.now() - 61 * MIN)}`, '403 ExpiredProviderToken'],
    ];
    for (const [authorization, expected] of cases) {
      expect([authorization.slice(0, 30), reasonOf(await request(s, { ...ok, authorization }, APS))]).toEqual(
        [authorization.slice(0, 30), expected],
      );
    }
    expect(server.jwts).toEqual([]);
  });

  it('refuses topics the key may not push to (TopicDisallowed)', async () => {
    const { ok, s } = await setup();
    expect(reasonOf(await request(s, { ...ok, 'apns-topic': 'com.not.mine' }, APS))).toBe(
      '400 TopicDisallowed',
    );
  });

  it('binds a connection to the team of its first push', async () => {
    const { clock, server, ok, s } = await setup({
      keys: [
        { keyId: 'KEYTEAMA01', teamId: 'TEAMA00001' },
        { keyId: 'KEYTEAMB01', teamId: 'TEAMB00001' },
      ],
    });
    const a = `bearer ${await jwt(server.keys[0]!, clock.now())}`;
    const b = `bearer ${await jwt(server.keys[1]!, clock.now())}`;
    expect((await request(s, { ...ok, authorization: a }, APS)).status).toBe(200);
    expect(reasonOf(await request(s, { ...ok, authorization: b }, APS))).toBe('403 InvalidProviderToken');
    expect((await request(session(server), { ...ok, authorization: b }, APS)).status).toBe(200);
  });

  it('answers 429 TooManyProviderTokenUpdates to a new token within 20 minutes on the same connection', async () => {
    const { clock, server, ok, s } = await setup();
    expect((await request(s, ok, APS)).status).toBe(200);
    clock.tick(5 * MIN);
    const early = `bearer ${await jwt(server.key, clock.now())}`;
    expect(reasonOf(await request(s, { ...ok, authorization: early }, APS))).toBe(
      '429 TooManyProviderTokenUpdates',
    );
    expect((await request(session(server), { ...ok, authorization: early }, APS)).status).toBe(200); // another connection
    clock.tick(16 * MIN);
    const later = `bearer ${await jwt(server.key, clock.now())}`;
    expect((await request(s, { ...ok, authorization: later }, APS)).status).toBe(200);
    expect(server.jwts).toHaveLength(3);
  });

  it('allows one stream until a request with a valid token succeeds, then announces maxConcurrentStreams', async () => {
    const { server, ok } = await setup({ maxConcurrentStreams: 7 });
    const s = session(server);
    const limits: number[] = [];
    s.on('remoteSettings', (st) => limits.push(st.maxConcurrentStreams ?? -1));
    expect(reasonOf(await request(s, { ...ok, authorization: 'bearer nope' }, APS))).toBe(
      '403 InvalidProviderToken',
    );
    expect(limits).toEqual([1]);
    expect((await request(s, ok, APS)).status).toBe(200);
    await new Promise<void>((r) => (limits.length > 1 ? r() : s.once('remoteSettings', () => r())));
    expect(limits).toEqual([1, 7]);
  });
});
