/**
 * The FCM HTTP v1 client against the protocol-true local FCM service, over TLS (HTTP/2):
 * the exact body and headers of SPEC §6, OAuth2 token caching and refresh, every error
 * code of push-providers.md §4.4 mapped to its outcome, Retry-After, timeouts, GOAWAY and
 * the peer's stream limit.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Http2Client } from '../../src/push/providers/fcm/h2-client.ts';
import { AccessTokenSource, FcmProvider, type ServiceAccount } from '../../src/push/providers/fcm/index.ts';
import type { PushMessage, PushOutcome } from '../../src/push/providers/types.ts';
import { startFcmServer, type FcmErrorCode, type FcmServer } from '../helpers/push-servers/fcm-server.ts';
import { until } from '../helpers/wait.ts';
import { ManualClock } from '../../src/core/time/index.ts';

const TOKEN = 'dGVzdC1kZXZpY2U6APA91bH_example-token';
const base: PushMessage = {
  notificationId: 'job-1:alice',
  title: 'New from Nils',
  body: 'Listen now',
  priority: 'normal',
};

let fcm: FcmServer;
const open: FcmProvider[] = [];

function provider(
  over: Partial<ConstructorParameters<typeof FcmProvider>[0]> = {},
  server = fcm,
): FcmProvider {
  const p = new FcmProvider({
    serviceAccount: server.serviceAccount as unknown as ServiceAccount,
    url: server.url,
    requestTimeoutMs: 5000,
    ...over,
  });
  open.push(p);
  return p;
}

beforeAll(async () => {
  fcm = await startFcmServer();
});
afterAll(async () => {
  await fcm.close();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
  fcm.requests.length = 0;
  fcm.messages.length = 0;
});

describe('FCM: what the provider receives (SPEC §6)', () => {
  it.each([
    ['low', undefined, undefined, { priority: 'NORMAL' }],
    ['normal', 60, undefined, { priority: 'NORMAL', ttl: '60s' }],
    ['high', 3600, 'new-release', { priority: 'HIGH', ttl: '3600s', collapse_key: 'new-release' }],
    ['critical', 0, 'alarm', { priority: 'HIGH', ttl: '0s', collapse_key: 'alarm' }],
  ] as const)(
    'priority %s, ttl %s, collapse %s → android %o',
    async (priority, ttlSeconds, collapseKey, android) => {
      const p = provider();
      const message: PushMessage = {
        ...base,
        priority,
        data: { track: '42', plays: 7, artist: { id: 'a1', tags: ['jazz'] } },
        ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
        ...(collapseKey === undefined ? {} : { collapseKey }),
      };
      const outcome = await p.send({ platform: 'android', token: TOKEN }, message);
      expect(outcome).toMatchObject({ kind: 'delivered', status: 200 });
      expect(outcome.kind === 'delivered' && outcome.providerId).toMatch(
        /^projects\/backbeat-test\/messages\//,
      );
      expect(fcm.requests).toHaveLength(1);
      const req = fcm.requests[0]!;
      expect(req.httpVersion).toBe('2.0');
      expect(req.path).toBe('/v1/projects/backbeat-test/messages:send');
      expect(req.headers['authorization']).toMatch(/^Bearer ya29\./);
      expect(req.headers['content-type']).toBe('application/json; charset=UTF-8');
      expect(req.body).toEqual({
        message: {
          token: TOKEN,
          notification: { title: 'New from Nils', body: 'Listen now' },
          data: {
            track: '42',
            plays: '7',
            artist: '{"id":"a1","tags":["jazz"]}',
            notificationId: 'job-1:alice',
          },
          android,
        },
      });
      expect(fcm.messages).toEqual([(req.body as { message: unknown }).message]);
    },
  );
});

describe('FCM: access token and connection', () => {
  it('fetches one access token for many sends and multiplexes them on one session under the peer limit', async () => {
    const before = fcm.tokenRequests;
    const p = provider();
    const outcomes = await Promise.all(
      Array.from({ length: 250 }, (_, i) =>
        p.send({ platform: 'android', token: `${TOKEN}${i}` }, { ...base, notificationId: `job:${i}` }),
      ),
    );
    expect(outcomes.every((o) => o.kind === 'delivered')).toBe(true);
    expect(fcm.tokenRequests - before).toBe(1);
    expect(p.tokenFetches).toBe(1);
    expect(p.sessionsOpened).toBe(1);
    expect(fcm.messages.map((m) => (m['data'] as Record<string, string>)['notificationId']).sort()).toEqual(
      Array.from({ length: 250 }, (_, i) => `job:${i}`).sort(),
    );
    expect(fcm.peakConcurrent).toBeGreaterThan(1);
    expect(fcm.peakConcurrent).toBeLessThanOrEqual(100);
  });

  it('keeps streams in flight under the peer limit, and follows the peer when it lowers it', async () => {
    const small = await startFcmServer({ maxConcurrentStreams: 3 });
    const client = new Http2Client(small.url);
    const tokens = new AccessTokenSource({
      serviceAccount: small.serviceAccount as unknown as ServiceAccount,
      requestTimeoutMs: 5000,
    });
    const headers = {
      ':method': 'POST',
      ':path': '/v1/projects/backbeat-test/messages:send',
      authorization: `Bearer ${await tokens.get()}`,
    };
    const burst = (n: number, from: number) =>
      Array.from({ length: n }, (_, i) =>
        client.request(
          headers,
          JSON.stringify({ message: { token: `t${from + i}` } }),
          AbortSignal.timeout(10_000),
        ),
      );
    try {
      const first = burst(40, 0);
      // The first request opens the session; the rest wait for its SETTINGS.
      expect(client.inFlight).toBe(1);
      expect((await Promise.all(first)).map((r) => r.status)).toEqual(Array(40).fill(200));
      expect(client.streamLimit).toBe(3);
      expect(client.peakInFlight).toBe(3); // it multiplexed, never above the limit

      const second = burst(10, 100);
      expect(client.inFlight).toBe(3);
      await Promise.all(second);
      small.setMaxConcurrentStreams(1);
      await until(() => client.streamLimit === 1, 'client sees the lowered limit', 10_000);
      const third = burst(10, 200);
      expect(client.inFlight).toBe(1);
      expect((await Promise.all(third)).map((r) => r.status)).toEqual(Array(10).fill(200));
      expect(client.sessionsOpened).toBe(1);
      expect(small.messages).toHaveLength(60);
    } finally {
      await client.close();
      await small.close();
    }
  });

  it('reuses the access token until shortly before expires_in, then fetches a new one before any 401', async () => {
    const clock = new ManualClock(Date.now());
    const timed = await startFcmServer({ now: () => clock.now() });
    try {
      const p = provider(
        { clock, url: timed.url, serviceAccount: timed.serviceAccount as unknown as ServiceAccount },
        timed,
      );
      const ok = async () =>
        expect((await p.send({ platform: 'android', token: TOKEN }, base)).kind).toBe('delivered');
      await ok();
      clock.tick((3599 - 301) * 1000); // expires_in 3599 s; refreshed 5 min early
      await ok();
      expect(timed.tokenRequests).toBe(1);
      clock.tick(2000);
      await ok();
      expect(timed.tokenRequests).toBe(2);
      expect(timed.requests.map((r) => r.status)).toEqual([200, 200, 200]);
    } finally {
      await timed.close();
    }
  });

  it('refreshes the access token once after the server expires it (401 → new token → delivered)', async () => {
    const p = provider();
    expect((await p.send({ platform: 'android', token: TOKEN }, base)).kind).toBe('delivered');
    fcm.expireAccessTokens();
    const outcome = await p.send({ platform: 'android', token: TOKEN }, base);
    expect(outcome.kind).toBe('delivered');
    expect(p.tokenFetches).toBe(2);
    expect(fcm.requests.map((r) => r.status)).toEqual([200, 401, 200]);
    expect(fcm.requests[1]!.headers['authorization']).not.toBe(fcm.requests[2]!.headers['authorization']);
  });

  it('answers provider-error when the service account is revoked (401, then invalid_grant)', async () => {
    const revoked = await startFcmServer();
    try {
      const p = provider({}, revoked);
      expect((await p.send({ platform: 'android', token: TOKEN }, base)).kind).toBe('delivered');
      revoked.revokeServiceAccount();
      const outcome = await p.send({ platform: 'android', token: TOKEN }, base);
      expect(outcome).toMatchObject({ kind: 'provider-error', status: 400 });
      expect(outcome.kind === 'provider-error' && outcome.reason).toMatch(/invalid_grant/);
    } finally {
      await revoked.close();
    }
  });

  it('reconnects after GOAWAY', async () => {
    const p = provider();
    expect((await p.send({ platform: 'android', token: TOKEN }, base)).kind).toBe('delivered');
    fcm.goaway();
    expect((await p.send({ platform: 'android', token: TOKEN }, base)).kind).toBe('delivered');
    expect(p.sessionsOpened).toBe(2);
  });

  it('resends what a GOAWAY left unprocessed on a new session: every send in flight is delivered once', async () => {
    const p = provider();
    expect((await p.send({ platform: 'android', token: TOKEN }, base)).kind).toBe('delivered');
    fcm.messages.length = 0;
    const sends = Array.from({ length: 30 }, (_, i) => p.send({ platform: 'android', token: `g${i}` }, base));
    await new Promise((r) => setImmediate(r));
    fcm.goaway();
    const outcomes = await Promise.all(sends);
    expect(outcomes.map((o) => o.kind)).toEqual(Array(30).fill('delivered'));
    expect(fcm.messages.map((m) => m['token']).sort()).toEqual(
      Array.from({ length: 30 }, (_, i) => `g${i}`).sort(),
    );
  });

  it('turns an unanswered request into retry (timeout) and keeps the session usable', async () => {
    const p = provider({ requestTimeoutMs: 1500 });
    expect((await p.send({ platform: 'android', token: TOKEN }, base)).kind).toBe('delivered');
    fcm.hang(1);
    expect(await p.send({ platform: 'android', token: TOKEN }, base)).toEqual({
      kind: 'retry',
      reason: 'timeout',
    });
    expect((await p.send({ platform: 'android', token: TOKEN }, base)).kind).toBe('delivered');
    expect(p.sessionsOpened).toBe(1);
    expect(fcm.requests.map((r) => r.status)).toEqual([200, 0, 200]); // 0: never answered
  });

  it('answers retry for a network failure (nothing listening)', async () => {
    const p = provider({ url: 'https://127.0.0.1:1' });
    const outcome = await p.send({ platform: 'android', token: TOKEN }, base);
    expect(outcome.kind).toBe('retry');
  });

  it('answers provider-error for a project the credentials do not cover', async () => {
    const p = provider({
      serviceAccount: { ...(fcm.serviceAccount as unknown as ServiceAccount), project_id: 'someone-else' },
      tokenUrl: fcm.tokenUrl,
    });
    expect(await p.send({ platform: 'android', token: TOKEN }, base)).toMatchObject({
      kind: 'provider-error',
      status: 403,
    });
  });
});

describe('FCM: error codes → outcomes (push-providers.md §4.4)', () => {
  it.each<[FcmErrorCode, PushOutcome['kind'], number]>([
    ['UNREGISTERED', 'invalid-token', 404],
    ['INVALID_ARGUMENT', 'invalid-token', 400],
    ['SENDER_ID_MISMATCH', 'invalid-token', 403],
    ['THIRD_PARTY_AUTH_ERROR', 'provider-error', 401],
    ['PERMISSION_DENIED', 'provider-error', 403],
    ['QUOTA_EXCEEDED', 'retry', 429],
    ['UNAVAILABLE', 'retry', 503],
    ['INTERNAL', 'retry', 500],
    ['UNSPECIFIED_ERROR', 'retry', 500],
  ])('%s → %s', async (code, kind, status) => {
    const p = provider();
    const token = `scripted-${code}`;
    fcm.setTokenOutcome(token, code);
    const outcome = await p.send({ platform: 'android', token }, base);
    expect(outcome).toMatchObject({ kind, status });
    expect(fcm.messages).toEqual([]);
    if (code === 'QUOTA_EXCEEDED') expect(outcome).toMatchObject({ retryAfterMs: 60_000 }); // no header: Google's minute
  });

  it('429 with retry-after → retry with retryAfterMs; 503 with retry-after too', async () => {
    const p = provider();
    fcm.quota429(17, 1);
    expect(await p.send({ platform: 'android', token: TOKEN }, base)).toMatchObject({
      kind: 'retry',
      status: 429,
      retryAfterMs: 17_000,
    });
    fcm.unavailable503(1, '3');
    expect(await p.send({ platform: 'android', token: TOKEN }, base)).toMatchObject({
      kind: 'retry',
      status: 503,
      retryAfterMs: 3000,
    });
    fcm.unavailable503(1);
    const bare = await p.send({ platform: 'android', token: TOKEN }, base);
    expect(bare).toMatchObject({ kind: 'retry', status: 503 });
    expect(bare).not.toHaveProperty('retryAfterMs');
    expect((await p.send({ platform: 'android', token: TOKEN }, base)).kind).toBe('delivered');
  });

  it('a malformed token is invalid-token; a payload FCM refuses is failed', async () => {
    const p = provider();
    expect(await p.send({ platform: 'android', token: 'not a token!' }, base)).toMatchObject({
      kind: 'invalid-token',
      status: 400,
    });
    const big = await p.send(
      { platform: 'android', token: TOKEN },
      { ...base, data: { blob: 'x'.repeat(5000) } },
    );
    expect(big).toMatchObject({ kind: 'failed', status: 400 });
    expect(big.kind === 'failed' && big.reason).toMatch(/too big/);
    const reserved = await p.send({ platform: 'android', token: TOKEN }, { ...base, data: { from: 'me' } });
    expect(reserved).toMatchObject({ kind: 'failed', status: 400 });
  });

  it('refuses a target of another platform without a request', async () => {
    const p = provider();
    expect((await p.send({ platform: 'ios', token: TOKEN }, base)).kind).toBe('failed');
    expect(fcm.requests).toHaveLength(0);
  });
});
