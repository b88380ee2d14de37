/**
 * APNs client pieces without a network: the provider token (verified by jose, an
 * independent ES256 implementation), the request and payload of SPEC §6, and the
 * answer → outcome table of `shared/push-providers.md` §4.4.
 */
import { generateKeyPairSync } from 'node:crypto';
import { compactVerify, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../core/time/index.ts';
import type { PushMessage } from '../types.ts';
import { parseRetryAfter, toOutcome, type ApnsExchange } from './outcome.ts';
import { buildRequest } from './request.ts';
import { ProviderToken, parseSigningKey, type TokenRenewal } from './token.ts';

const MIN = 60_000;
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const PEM = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

function tokenWith(
  clock: ManualClock,
  renewals: TokenRenewal[] = [],
  refreshAfterMs?: number,
): ProviderToken {
  const opts = { key: PEM, keyId: 'KEY0000001', teamId: 'TEAM000001', clock };
  return new ProviderToken(refreshAfterMs === undefined ? opts : { ...opts, refreshAfterMs }, (why) =>
    renewals.push(why),
  );
}

describe('APNs provider token', () => {
  it('is an ES256 JWT {alg,kid} / {iss,iat} with a raw R||S signature that jose verifies', async () => {
    const clock = new ManualClock(Date.UTC(2026, 2, 1, 12, 0, 0));
    const jwt = tokenWith(clock).current();
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'ES256', kid: 'KEY0000001' });
    expect(Buffer.from(jwt.split('.')[2]!, 'base64url')).toHaveLength(64);
    const { payload } = await compactVerify(jwt, publicKey, { algorithms: ['ES256'] });
    expect(JSON.parse(Buffer.from(payload).toString())).toEqual({
      iss: 'TEAM000001',
      iat: Date.UTC(2026, 2, 1, 12, 0, 0) / 1000,
    });
  });

  it('is minted on first use, reused until 50 min, then renewed', () => {
    const clock = new ManualClock();
    const renewals: TokenRenewal[] = [];
    const token = tokenWith(clock, renewals);
    expect(renewals).toEqual([]);
    const first = token.current();
    clock.tick(49 * MIN + 59_000);
    expect(token.current()).toBe(first);
    clock.tick(1_000);
    const second = token.current();
    expect(second).not.toBe(first);
    expect(token.current()).toBe(second);
    expect(renewals).toEqual(['initial', 'age']);
  });

  it('clamps the refresh age to Apple’s 20–60 minute window', () => {
    const clock = new ManualClock();
    const eager = tokenWith(clock, [], 60_000);
    const a = eager.current();
    clock.tick(19 * MIN);
    expect(eager.current()).toBe(a);
    clock.tick(MIN);
    expect(eager.current()).not.toBe(a);

    const lazy = tokenWith(clock, [], 5 * 60 * MIN);
    const b = lazy.current();
    clock.tick(59 * MIN);
    expect(lazy.current()).not.toBe(b);
  });

  it('renews once after ExpiredProviderToken, however many requests report the same token', () => {
    const clock = new ManualClock();
    const renewals: TokenRenewal[] = [];
    const token = tokenWith(clock, renewals);
    const old = token.current();
    clock.tick(1_000); // a different iat, so a different token
    const renewed = token.renewExpired(old);
    expect(renewed).not.toBe(old);
    expect(token.renewExpired(old)).toBe(renewed);
    expect(token.renewExpired(old)).toBe(renewed);
    expect(renewals).toEqual(['initial', 'expired']);
  });

  it('refuses keys that are not EC P-256 private keys', () => {
    expect(() => parseSigningKey('not a key')).toThrow(/does not parse/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    expect(() => parseSigningKey(rsa)).toThrow(/EC P-256/);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    expect(() => parseSigningKey(p384)).toThrow(/EC P-256/);
  });
});

describe('APNs request', () => {
  const base: PushMessage = {
    notificationId: 'job1:user1',
    title: 'New',
    body: 'Album out',
    priority: 'normal',
  };
  const NOW = Date.UTC(2026, 2, 1, 12, 0, 0);

  it('maps priority to apns-priority 10 for high and critical, 5 otherwise', () => {
    const prio = (priority: PushMessage['priority']) =>
      buildRequest('ab', { ...base, priority }, 'com.x', NOW).headers['apns-priority'];
    expect([prio('low'), prio('normal'), prio('high'), prio('critical')]).toEqual(['5', '5', '10', '10']);
  });

  it('sets apns-expiration from ttlSeconds (0 stays 0), apns-collapse-id from collapseKey, omits both otherwise', () => {
    expect(buildRequest('ab', { ...base, ttlSeconds: 3600 }, 'com.x', NOW).headers['apns-expiration']).toBe(
      String(NOW / 1000 + 3600),
    );
    expect(buildRequest('ab', { ...base, ttlSeconds: 0 }, 'com.x', NOW).headers['apns-expiration']).toBe('0');
    expect(
      buildRequest('ab', { ...base, collapseKey: 'album-1' }, 'com.x', NOW).headers['apns-collapse-id'],
    ).toBe('album-1');
    const plain = buildRequest('ab', base, 'com.x', NOW);
    expect(plain.headers).not.toHaveProperty('apns-expiration');
    expect(plain.headers).not.toHaveProperty('apns-collapse-id');
    expect(plain.headers).toMatchObject({
      'apns-topic': 'com.x',
      'apns-push-type': 'alert',
      'apns-id': plain.apnsId,
    });
    expect(plain.apnsId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('builds {"aps":{"alert":{title,body}},"notificationId",…data} where data cannot override aps or notificationId', () => {
    const req = buildRequest(
      'ab',
      { ...base, data: { trackId: 't9', aps: 'evil', notificationId: 'forged' } },
      'com.x',
      NOW,
    );
    expect(JSON.parse(req.body.toString())).toEqual({
      aps: { alert: { title: 'New', body: 'Album out' } },
      notificationId: 'job1:user1',
      trackId: 't9',
    });
  });

  it('puts the device token in the path, encoded', () => {
    expect(buildRequest('a1b2', base, 'com.x', NOW).path).toBe('/3/device/a1b2');
    expect(buildRequest('../x?y', base, 'com.x', NOW).path).toBe('/3/device/..%2Fx%3Fy');
  });
});

describe('APNs answers → outcomes (push-providers.md §4.4)', () => {
  const answer = (status: number, reason?: string, retryAfter?: string): ApnsExchange => ({
    kind: 'answer',
    status,
    ...(reason === undefined ? {} : { reason }),
    ...(retryAfter === undefined ? {} : { retryAfter }),
  });
  const cases: Array<[number, string, string]> = [
    [410, 'Unregistered', 'invalid-token'],
    [410, 'ExpiredToken', 'invalid-token'],
    [400, 'BadDeviceToken', 'invalid-token'],
    [400, 'DeviceTokenNotForTopic', 'failed'],
    [400, 'BadCollapseId', 'failed'],
    [400, 'BadPriority', 'failed'],
    [400, 'BadExpirationDate', 'failed'],
    [400, 'BadMessageId', 'failed'],
    [400, 'BadTopic', 'failed'],
    [400, 'MissingTopic', 'failed'],
    [400, 'TopicDisallowed', 'failed'],
    [400, 'InvalidPushType', 'failed'],
    [400, 'PayloadEmpty', 'failed'],
    [404, 'BadPath', 'failed'],
    [405, 'MethodNotAllowed', 'failed'],
    [413, 'PayloadTooLarge', 'failed'],
    [403, 'ExpiredProviderToken', 'retry'],
    [403, 'InvalidProviderToken', 'provider-error'],
    [403, 'MissingProviderToken', 'provider-error'],
    [403, 'BadCertificate', 'provider-error'],
    [403, 'UnrelatedKeyIdInToken', 'provider-error'],
    [429, 'TooManyRequests', 'retry'],
    [429, 'TooManyProviderTokenUpdates', 'provider-error'],
    [500, 'InternalServerError', 'retry'],
    [503, 'ServiceUnavailable', 'retry'],
    [503, 'Shutdown', 'retry'],
  ];
  it.each(cases)('%i %s → %s', (status, reason, kind) => {
    expect(toOutcome(answer(status, reason), 0)).toEqual({ kind, reason, status });
  });

  it('200 → delivered with the apns-id', () => {
    expect(toOutcome({ kind: 'answer', status: 200, apnsId: 'id-1' }, 0)).toEqual({
      kind: 'delivered',
      status: 200,
      providerId: 'id-1',
    });
  });

  it('carries Retry-After (seconds or HTTP-date) on retries', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(toOutcome(answer(429, 'TooManyRequests', '7'), now)).toMatchObject({
      kind: 'retry',
      retryAfterMs: 7000,
    });
    expect(
      toOutcome(answer(503, 'ServiceUnavailable', new Date(now + 30_000).toUTCString()), now),
    ).toMatchObject({ retryAfterMs: 30_000 });
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(new Date(now - 5_000).toUTCString(), now)).toBe(0);
  });

  it('no answer → retry; a certificate that does not verify → provider-error', () => {
    expect(toOutcome({ kind: 'no-answer', reason: 'ECONNRESET' }, 0)).toEqual({
      kind: 'retry',
      reason: 'ECONNRESET',
    });
    expect(toOutcome({ kind: 'no-answer', reason: 'DEPTH_ZERO_SELF_SIGNED_CERT', tls: true }, 0)).toEqual({
      kind: 'provider-error',
      reason: 'DEPTH_ZERO_SELF_SIGNED_CERT',
    });
  });

  it('a status without Apple JSON still maps by status', () => {
    expect(toOutcome(answer(502), 0)).toEqual({ kind: 'retry', reason: 'HTTP 502', status: 502 });
    expect(toOutcome(answer(400), 0)).toEqual({ kind: 'failed', reason: 'HTTP 400', status: 400 });
  });
});
