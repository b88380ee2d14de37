import { describe, expect, it } from 'vitest';
import type { PushMessage } from '../types.ts';
import { buildFcmBody, classifyFcmResponse, parseFcmError } from './message.ts';
import { parseRetryAfter } from './retry-after.ts';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const base: PushMessage = { notificationId: 'job:u1', title: 'T', body: 'B', priority: 'normal' };
const FCM = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
const google = (code: number, status: string, message: string, details: unknown[] = []) =>
  JSON.stringify({ error: { code, message, status, details } });

describe('buildFcmBody', () => {
  it('stringifies data values, adds notificationId last, and maps priority, ttl and collapse key', () => {
    const body = buildFcmBody('tok', {
      ...base,
      priority: 'critical',
      ttlSeconds: 90.7,
      collapseKey: 'k',
      data: { s: 'x', n: 1, b: false, o: { a: null }, notificationId: 'spoofed', u: undefined },
    });
    expect(body).toEqual({
      message: {
        token: 'tok',
        notification: { title: 'T', body: 'B' },
        data: { s: 'x', n: '1', b: 'false', o: '{"a":null}', notificationId: 'job:u1' },
        android: { priority: 'HIGH', ttl: '90s', collapse_key: 'k' },
      },
    });
  });

  it('clamps ttl to FCM’s four weeks and omits what the message does not set', () => {
    expect(buildFcmBody('t', { ...base, ttlSeconds: 10 ** 9 }).message.android).toEqual({
      priority: 'NORMAL',
      ttl: '2419200s',
    });
    expect(buildFcmBody('t', { ...base, priority: 'low', ttlSeconds: -5 }).message.android).toEqual({
      priority: 'NORMAL',
      ttl: '0s',
    });
    expect(buildFcmBody('t', base).message.android).toEqual({ priority: 'NORMAL' });
    expect(buildFcmBody('t', base).message.data).toEqual({ notificationId: 'job:u1' });
  });
});

describe('classifyFcmResponse', () => {
  it('200 → delivered with the message name', () => {
    expect(classifyFcmResponse(200, {}, '{"name":"projects/p/messages/1"}', NOW)).toEqual({
      kind: 'delivered',
      status: 200,
      providerId: 'projects/p/messages/1',
    });
  });

  it.each([
    [404, 'NOT_FOUND', 'UNREGISTERED', 'invalid-token'],
    [403, 'PERMISSION_DENIED', 'SENDER_ID_MISMATCH', 'invalid-token'],
    [401, 'UNAUTHENTICATED', 'THIRD_PARTY_AUTH_ERROR', 'provider-error'],
    [429, 'RESOURCE_EXHAUSTED', 'QUOTA_EXCEEDED', 'retry'],
    [503, 'UNAVAILABLE', 'UNAVAILABLE', 'retry'],
    [500, 'INTERNAL', 'INTERNAL', 'retry'],
    [500, 'UNKNOWN', 'UNSPECIFIED_ERROR', 'retry'],
  ])('%i %s / FcmError %s → %s', (http, status, errorCode, kind) => {
    const body = google(http, status, 'm', [{ '@type': FCM, errorCode }]);
    expect(classifyFcmResponse(http, {}, body, NOW)).toMatchObject({ kind, status: http });
  });

  it('INVALID_ARGUMENT is the token’s fault only when Google says so', () => {
    const token = google(
      400,
      'INVALID_ARGUMENT',
      'The registration token is not a valid FCM registration token',
      [{ '@type': FCM, errorCode: 'INVALID_ARGUMENT' }],
    );
    const field = google(400, 'INVALID_ARGUMENT', 'Invalid value', [
      { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'message.token' }] },
    ]);
    const payload = google(
      400,
      'INVALID_ARGUMENT',
      "Invalid value at 'message.data[0].value' (TYPE_STRING), 1",
      [
        {
          '@type': 'type.googleapis.com/google.rpc.BadRequest',
          fieldViolations: [{ field: 'message.data[0].value' }],
        },
      ],
    );
    expect(classifyFcmResponse(400, {}, token, NOW)).toMatchObject({ kind: 'invalid-token' });
    expect(classifyFcmResponse(400, {}, field, NOW)).toMatchObject({ kind: 'invalid-token' });
    expect(classifyFcmResponse(400, {}, payload, NOW)).toMatchObject({ kind: 'failed', status: 400 });
  });

  it('a 401 without FcmError asks for a new access token; PERMISSION_DENIED and bare NOT_FOUND stop the provider', () => {
    expect(
      classifyFcmResponse(
        401,
        {},
        google(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'),
        NOW,
      ),
    ).toBe('unauthenticated');
    expect(classifyFcmResponse(403, {}, google(403, 'PERMISSION_DENIED', 'denied'), NOW)).toMatchObject({
      kind: 'provider-error',
    });
    expect(
      classifyFcmResponse(404, {}, google(404, 'NOT_FOUND', 'Requested entity was not found.'), NOW),
    ).toMatchObject({ kind: 'provider-error' });
  });

  it('honours retry-after, defaults a quota error to a minute, and falls back to the status for non-JSON bodies', () => {
    const quota = google(429, 'RESOURCE_EXHAUSTED', 'q', [{ '@type': FCM, errorCode: 'QUOTA_EXCEEDED' }]);
    expect(classifyFcmResponse(429, { 'retry-after': '12' }, quota, NOW)).toMatchObject({
      kind: 'retry',
      retryAfterMs: 12_000,
    });
    expect(classifyFcmResponse(429, {}, quota, NOW)).toMatchObject({ kind: 'retry', retryAfterMs: 60_000 });
    expect(classifyFcmResponse(502, {}, '<html>Bad Gateway</html>', NOW)).toEqual({
      kind: 'retry',
      status: 502,
      reason: '502: <html>Bad Gateway</html>',
    });
    expect(classifyFcmResponse(401, {}, 'nope', NOW)).toBe('unauthenticated');
    expect(classifyFcmResponse(413, {}, '', NOW)).toMatchObject({ kind: 'failed', status: 413 });
  });

  it('parses Google’s error shape in firebase-admin’s order: FcmError.errorCode, then status', () => {
    expect(
      parseFcmError(google(404, 'NOT_FOUND', 'x', [{ '@type': FCM, errorCode: 'UNREGISTERED' }])).code,
    ).toBe('UNREGISTERED');
    expect(parseFcmError(google(503, 'UNAVAILABLE', 'x')).code).toBe('UNAVAILABLE');
    expect(parseFcmError('not json').code).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP dates, ignores garbage', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(new Date(NOW + 90_000).toUTCString(), NOW)).toBe(90_000);
    expect(parseRetryAfter(new Date(NOW - 5_000).toUTCString(), NOW)).toBe(0);
    expect(parseRetryAfter(['7'], NOW)).toBe(7000);
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter('', NOW)).toBeUndefined();
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
  });
});
