/**
 * The APNs client (`src/push/providers/apns`) against the protocol-true local APNs server
 * (`test/helpers/push-servers/apns-server.ts`) over TLS and HTTP/2: what APNs receives
 * (SPEC §6), the provider token's life, every reason code of push-providers.md §4.4,
 * Retry-After, the local payload limit, bad keys and certificate verification.
 * Stream limits, GOAWAY, timeouts and reconnects: `push-apns-streams.test.ts`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/time/index.ts';
import { buildPayload, type ApnsProvider } from '../../src/push/providers/apns/index.ts';
import type { PushOutcome, Priority } from '../../src/push/providers/types.ts';
import {
  generateKey,
  startApnsServer,
  type ApnsServerOptions,
  type ApnsTestServer,
} from '../helpers/push-servers/apns-server.ts';
import { acceptedCounts, burst, clientFor, deviceToken, ios, message, Watch } from './push-apns-fixtures.ts';

const MIN = 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const servers: ApnsTestServer[] = [];
const clients: ApnsProvider[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(opts: ApnsServerOptions = {}): Promise<ApnsTestServer> {
  const s = await startApnsServer(opts);
  servers.push(s);
  return s;
}
function client(...args: Parameters<typeof clientFor>): ApnsProvider {
  const c = clientFor(...args);
  clients.push(c);
  return c;
}
/** A clock on a whole second, so apns-expiration and iat are exact. */
const wallClock = () => new ManualClock(Math.floor(Date.now() / 1000) * 1000);

describe('APNs: what the provider receives (SPEC §6)', () => {
  it('sends POST /3/device/<token> with apns-* headers and the payload for each priority, ttl and collapse key', async () => {
    const clock = wallClock();
    const apns = await server({ now: () => clock.now() });
    const c = client(apns, { clock });
    const cases: Array<{
      priority: Priority;
      ttlSeconds?: number;
      collapseKey?: string;
      prio: string;
      exp?: string;
    }> = [
      { priority: 'low', prio: '5' },
      { priority: 'normal', ttlSeconds: 0, collapseKey: 'album-42', prio: '5', exp: '0' },
      { priority: 'high', ttlSeconds: 3600, prio: '10', exp: String(clock.now() / 1000 + 3600) },
      {
        priority: 'critical',
        ttlSeconds: 86_400,
        collapseKey: 'c',
        prio: '10',
        exp: String(clock.now() / 1000 + 86_400),
      },
    ];
    for (const [i, tc] of cases.entries()) {
      const { prio: _p, exp: _e, ...over } = tc;
      const outcome = await c.send(
        ios(deviceToken(i)),
        message(`job1:u${i}`, { ...over, data: { trackId: `t${i}`, n: i } }),
      );
      const got = apns.requests[i]!;
      expect(outcome).toEqual({ kind: 'delivered', status: 200, providerId: got.apnsId });
      expect(got.apnsId).toMatch(UUID);
      expect(got.token).toBe(deviceToken(i));
      expect(got.headers).toMatchObject({
        ':method': 'POST',
        ':path': `/3/device/${deviceToken(i)}`,
        'apns-topic': apns.topic,
        'apns-push-type': 'alert',
        'apns-priority': tc.prio,
        'apns-id': got.apnsId,
      });
      expect(got.headers['apns-expiration']).toBe(tc.exp);
      expect(got.headers['apns-collapse-id']).toBe(tc.collapseKey);
      expect(got.payload).toEqual({
        aps: { alert: { title: 'New release', body: 'Your artist dropped an album' } },
        notificationId: `job1:u${i}`,
        trackId: `t${i}`,
        n: i,
      });
    }
    expect(apns.sessions).toBe(1);
    expect(apns.jwts).toHaveLength(1);
  });
});

describe('APNs: the provider token', () => {
  it('is shared by all connections and renewed at 50 minutes, never sooner (APNs would answer 429)', async () => {
    const clock = wallClock();
    const apns = await server({ now: () => clock.now() });
    const watch = new Watch();
    const c = client(apns, { clock, connections: 2 }, watch);
    const delivered = (m: Map<string, PushOutcome>) => [...m.values()].every((o) => o.kind === 'delivered');

    expect(delivered(await burst(c, 30, 'a'))).toBe(true);
    expect(apns.sessions).toBe(2);
    for (const ms of [20 * MIN, 29 * MIN, 59_000]) {
      clock.tick(ms);
      expect(delivered(await burst(c, 10, `at${ms}-`))).toBe(true);
      expect(apns.jwts).toHaveLength(1);
    }
    clock.tick(1_000); // 50 min since the first token
    expect(delivered(await burst(c, 10, 'b'))).toBe(true);
    expect(apns.jwts).toHaveLength(2);
    expect(watch.renewals).toEqual(['initial', 'age']);
    expect(new Set(apns.requests.slice(-10).map((r) => r.jwt))).toEqual(new Set([apns.jwts[1]]));
    expect(apns.rejections).toEqual([]);
  });

  it('renews once after ExpiredProviderToken and sends those notifications again', async () => {
    const clientClock = wallClock();
    const serverClock = new ManualClock(clientClock.now());
    const apns = await server({ now: () => serverClock.now() });
    const watch = new Watch();
    const c = client(apns, { clock: clientClock }, watch);
    expect(await c.send(ios(deviceToken(1)), message('first'))).toMatchObject({ kind: 'delivered' });

    serverClock.tick(61 * MIN); // APNs' clock is 31 minutes ahead: our 30-minute-old token is too old for it
    clientClock.tick(30 * MIN);
    const outcomes = await burst(c, 10, 'n');
    expect([...outcomes.values()].map((o) => o.kind)).toEqual(Array(10).fill('delivered'));
    expect(watch.renewals).toEqual(['initial', 'expired']);
    expect(apns.rejections.map((r) => r.reason)).toEqual(Array(10).fill('ExpiredProviderToken'));
    expect([...acceptedCounts(apns).values()].every((n) => n === 1)).toBe(true);
    expect(apns.jwts).toHaveLength(2);
  });

  it('a token APNs still calls expired after one renewal ends as retry', async () => {
    const clientClock = wallClock();
    const apns = await server({ now: () => clientClock.now() + 3 * 60 * MIN });
    const watch = new Watch();
    const c = client(apns, { clock: clientClock }, watch);
    expect(await c.send(ios(deviceToken(1)), message('x'))).toEqual({
      kind: 'retry',
      reason: 'ExpiredProviderToken',
      status: 403,
    });
    expect(watch.renewals).toEqual(['initial', 'expired']);
    expect(apns.rejections).toHaveLength(2);
    expect(apns.requests).toHaveLength(0);
  });
});

describe('APNs: every answer maps to its outcome (push-providers.md §4.4)', () => {
  it('maps natural and scripted rejections', async () => {
    const apns = await server();
    const c = client(apns);
    const scripted: Array<[number, string, PushOutcome['kind']]> = [
      [410, 'Unregistered', 'invalid-token'],
      [410, 'ExpiredToken', 'invalid-token'],
      [400, 'BadDeviceToken', 'invalid-token'],
      [400, 'DeviceTokenNotForTopic', 'failed'],
      [400, 'BadPriority', 'failed'],
      [400, 'BadTopic', 'failed'],
      [400, 'PayloadEmpty', 'failed'],
      [400, 'TopicDisallowed', 'failed'],
      [413, 'PayloadTooLarge', 'failed'],
      [403, 'InvalidProviderToken', 'provider-error'],
      [403, 'MissingProviderToken', 'provider-error'],
      [403, 'BadCertificate', 'provider-error'],
      [429, 'TooManyProviderTokenUpdates', 'provider-error'],
      [429, 'TooManyRequests', 'retry'],
      [500, 'InternalServerError', 'retry'],
      [503, 'ServiceUnavailable', 'retry'],
    ];
    // The first send authenticates the connection, so the scripted answers come after valid auth.
    expect(await c.send(ios(deviceToken(0)), message('warm'))).toMatchObject({ kind: 'delivered' });
    for (const [i, [status, reason, kind]] of scripted.entries()) {
      apns.setTokenOutcome(deviceToken(100 + i), { status, reason });
      const outcome = await c.send(ios(deviceToken(100 + i)), message(`s${i}`));
      expect({ status, reason, outcome }).toEqual({ status, reason, outcome: { kind, reason, status } });
    }

    // The same reasons produced by the server's own validation:
    apns.expireToken(deviceToken(1));
    apns.setTokenTopic(deviceToken(2), 'com.other.app');
    const natural = await Promise.all([
      c.send(ios(deviceToken(1)), message('gone')),
      c.send(ios('not-a-hex-token'), message('bad')),
      c.send(ios(deviceToken(2)), message('topic')),
      c.send(ios(deviceToken(3)), message('collapse', { collapseKey: 'x'.repeat(65) })),
    ]);
    expect(natural).toEqual([
      { kind: 'invalid-token', reason: 'Unregistered', status: 410 },
      { kind: 'invalid-token', reason: 'BadDeviceToken', status: 400 },
      { kind: 'failed', reason: 'DeviceTokenNotForTopic', status: 400 },
      { kind: 'failed', reason: 'BadCollapseId', status: 400 },
    ]);
    expect(apns.requests).toHaveLength(1);
  });

  it('429 and 503 with Retry-After → retry with retryAfterMs (delay-seconds and HTTP-date)', async () => {
    const clock = wallClock();
    const apns = await server({ now: () => clock.now() });
    const c = client(apns, { clock });
    apns.setTokenOutcome(deviceToken(1), { status: 429, reason: 'TooManyRequests', retryAfter: '7' });
    apns.setTokenOutcome(deviceToken(2), {
      status: 503,
      reason: 'ServiceUnavailable',
      retryAfter: new Date(clock.now() + 30_000).toUTCString(),
    });
    apns.setTokenOutcome(deviceToken(3), { status: 500, reason: 'InternalServerError' });
    expect(await c.send(ios(deviceToken(1)), message('a'))).toEqual({
      kind: 'retry',
      reason: 'TooManyRequests',
      status: 429,
      retryAfterMs: 7000,
    });
    expect(await c.send(ios(deviceToken(2)), message('b'))).toEqual({
      kind: 'retry',
      reason: 'ServiceUnavailable',
      status: 503,
      retryAfterMs: 30_000,
    });
    expect(await c.send(ios(deviceToken(3)), message('c'))).toEqual({
      kind: 'retry',
      reason: 'InternalServerError',
      status: 500,
    });
  });
});

describe('APNs: refused before any request', () => {
  it('refuses a payload over 4,096 bytes locally and delivers one of exactly 4,096', async () => {
    const apns = await server();
    const c = client(apns);
    const filler = (n: number) => message('big', { data: { lyrics: 'x'.repeat(n) } });
    const base = Buffer.byteLength(JSON.stringify(buildPayload(filler(0))));
    const tooBig = await c.send(ios(deviceToken(1)), filler(4097 - base));
    expect(tooBig).toEqual({ kind: 'failed', reason: 'PayloadTooLarge' });
    expect(apns.sessions).toBe(0);
    expect(await c.send(ios(deviceToken(1)), filler(4096 - base))).toMatchObject({ kind: 'delivered' });
    expect(Buffer.byteLength(JSON.stringify(apns.requests[0]!.payload))).toBe(4096);
  });

  it('a target of another platform → failed WrongPlatform, reported to the outcome hook', async () => {
    const apns = await server();
    const watch = new Watch();
    const c = client(apns, {}, watch);
    const outcome = await c.send({ platform: 'android', token: 'fcm-token' }, message('x'));
    expect(outcome).toEqual({ kind: 'failed', reason: 'WrongPlatform' });
    expect(watch.outcomes).toEqual([outcome]);
    expect(apns.sessions).toBe(0);
  });

  it('a key that does not parse → provider-error without a connection', async () => {
    const apns = await server();
    const c = client(apns, { key: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----' });
    expect(await c.send(ios(deviceToken(1)), message('x'))).toEqual({
      kind: 'provider-error',
      reason: 'InvalidSigningKey',
    });
    expect(apns.sessions).toBe(0);
  });

  it('a key APNs does not know, or the wrong team → 403 InvalidProviderToken → provider-error', async () => {
    const apns = await server();
    const stranger = generateKey(apns.key.keyId, apns.key.teamId, [apns.topic]);
    const c1 = client(apns, { key: stranger.privateKeyPem });
    expect(await c1.send(ios(deviceToken(1)), message('x'))).toEqual({
      kind: 'provider-error',
      reason: 'InvalidProviderToken',
      status: 403,
    });
    const c2 = client(apns, { teamId: 'OTHERTEAM1' });
    expect(await c2.send(ios(deviceToken(1)), message('y'))).toEqual({
      kind: 'provider-error',
      reason: 'InvalidProviderToken',
      status: 403,
    });
    expect(apns.requests).toHaveLength(0);
  });

  it('verifies the server certificate: one the test CA did not sign → provider-error with the TLS error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apns-untrusted-'));
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost,IP:127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      const apns = await server({
        tls: { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) },
      });
      const c = client(apns);
      const outcome = await c.send(ios(deviceToken(1)), message('x'));
      expect(outcome).toEqual({
        kind: 'provider-error',
        reason: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY/),
      });
      expect(apns.requests).toHaveLength(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
