/**
 * Push notifications end to end (SPEC §6): a real node with the store, the job runner and
 * the three provider clients, against the protocol-true local APNs, FCM and Web Push
 * servers over TLS. Devices, templates and locales, what each provider receives, invalid
 * tokens, opt-outs, quiet hours, idempotency, experiments with opens, channel "auto".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.ts';
import {
  startProviderServers,
  apnsToken,
  fcmToken,
  type ProviderServers,
} from '../helpers/push-servers/index.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

let providers: ProviderServers;
let srv: TestServer;
let svc: string;

async function api(
  method: string,
  path: string,
  body?: unknown,
  token = svc,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${srv.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function job(
  jobId: string,
  done = (j: Record<string, unknown>) => j['status'] === 'done',
): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> = {};
  await until(
    async () => done((last = (await api('GET', `/v1/notifications/${jobId}`)).json)),
    `job ${jobId}`,
    20_000,
  );
  return last;
}

let webKey = '';
const web = () => providers.webpush.newSubscription({ applicationServerKey: webKey });

beforeAll(async () => {
  providers = await startProviderServers();
  srv = await startTestServer({ ...providers.env, PUSH_MAX_ATTEMPTS: '3' });
  svc = await srv.token({ sub: 'svc', scope: 'push:send events:write' });
  webKey = String((await api('GET', '/v1/push/vapid-public-key')).json['publicKey']);
});
afterAll(async () => {
  await srv?.close();
  await providers?.close();
});

describe('devices', () => {
  it('registers each platform, answers 200 with the same id on re-registration, lists without tokens, deletes', async () => {
    const a = await api('POST', '/v1/devices', {
      userId: 'd1',
      platform: 'ios',
      token: apnsToken(900),
      locale: 'en-US',
    });
    expect(a.status).toBe(201);
    const again = await api('POST', '/v1/devices', {
      userId: 'd1',
      platform: 'ios',
      token: apnsToken(900),
      locale: 'fr-FR',
    });
    expect(again).toEqual({ status: 200, json: { id: a.json['id'] } });
    expect(
      (await api('POST', '/v1/devices', { userId: 'd1', platform: 'android', token: fcmToken(900) })).status,
    ).toBe(201);
    expect(
      (await api('POST', '/v1/devices', { userId: 'd1', platform: 'web', subscription: web() })).status,
    ).toBe(201);
    const list = await api('GET', '/v1/users/d1/devices');
    const items = list.json['items'] as Array<Record<string, unknown>>;
    expect(items.map((d) => d['platform']).sort()).toEqual(['android', 'ios', 'web']);
    expect(JSON.stringify(items)).not.toContain(apnsToken(900));
    expect(items.find((d) => d['platform'] === 'ios')!['locale']).toBe('fr-FR');
    expect((await api('DELETE', `/v1/devices/${String(a.json['id'])}`)).status).toBe(204);
    expect(((await api('GET', '/v1/users/d1/devices')).json['items'] as unknown[]).length).toBe(2);
  });

  it('refuses bad devices with 400 naming the field, and other users’ devices with 403/404', async () => {
    for (const bad of [
      { userId: 'd2', platform: 'ios' },
      { userId: 'd2', platform: 'ios', token: 'not-hex!' },
      { userId: 'd2', platform: 'web', token: 'x' },
      {
        userId: 'd2',
        platform: 'web',
        subscription: { endpoint: 'http://insecure', keys: { p256dh: 'a', auth: 'b' } },
      },
      { userId: 'd2', platform: 'android', token: 't', timezone: 'Mars/Olympus' },
      { userId: 'd2', platform: 'pager', token: 't' },
    ]) {
      const r = await api('POST', '/v1/devices', bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
    }
    const user = await srv.token({ sub: 'd3' });
    expect(
      (await api('POST', '/v1/devices', { userId: 'someone-else', platform: 'android', token: 't1' }, user))
        .status,
    ).toBe(403);
    const mine = await api(
      'POST',
      '/v1/devices',
      { userId: 'd3', platform: 'android', token: 'own-token' },
      user,
    );
    expect(mine.status).toBe(201);
    const other = await api('POST', '/v1/devices', {
      userId: 'd4',
      platform: 'android',
      token: 'other-token',
    });
    expect((await api('DELETE', `/v1/devices/${String(other.json['id'])}`, undefined, user)).status).toBe(
      404,
    );
    expect((await api('GET', '/v1/users/d4/devices', undefined, user)).status).toBe(403);
    expect((await api('DELETE', `/v1/devices/${String(mine.json['id'])}`, undefined, user)).status).toBe(204);
  });
});

describe('sending', () => {
  it('delivers a localized template to iOS, Android and the web with exactly what SPEC §6 says each provider receives', async () => {
    expect(
      (
        await api('PUT', '/v1/templates/new-release', {
          defaultLocale: 'en',
          locales: {
            en: { title: 'New from {{ artist }}', body: 'Listen now' },
            fr: { title: 'Nouveau : {{ artist }}', body: 'Écoutez' },
          },
        })
      ).status,
    ).toBe(200);
    const sub = web();
    await api('POST', '/v1/devices', { userId: 's1', platform: 'ios', token: apnsToken(1), locale: 'fr-CA' });
    await api('POST', '/v1/devices', { userId: 's1', platform: 'android', token: fcmToken(1) });
    await api('POST', '/v1/devices', { userId: 's2', platform: 'web', subscription: sub, locale: 'de' });
    const r = await api('POST', '/v1/notifications', {
      userIds: ['s1', 's2', 'nobody'],
      template: 'new-release',
      variables: { artist: 'Daft Punk' },
      data: { albumId: 'a1', n: 2 },
      priority: 'high',
      ttlSeconds: 3600,
      collapseKey: 'release-a1',
    });
    expect(r.status).toBe(202);
    expect(r.json['recipients']).toBe(4); // three devices + one user without a device
    const status = await job(String(r.json['jobId']));
    expect(status).toMatchObject({ status: 'done', total: 4, delivered: 3, skipped: 1, failed: 0 });
    expect(status['byPlatform']).toMatchObject({
      ios: { delivered: 1 },
      android: { delivered: 1 },
      web: { delivered: 1 },
    });

    const apns = providers.apns.requests.find((q) => q.token === apnsToken(1))!;
    expect(apns.payload).toMatchObject({
      aps: { alert: { title: 'Nouveau : Daft Punk', body: 'Écoutez' } },
      albumId: 'a1',
      n: 2,
    });
    expect(String(apns.payload['notificationId'])).toMatch(new RegExp(`^${String(r.json['jobId'])}\\.\\d+$`));
    expect(apns.headers).toMatchObject({
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-collapse-id': 'release-a1',
    });
    expect(Number(apns.headers['apns-expiration'])).toBeGreaterThan(Date.now() / 1000);

    const fcm = providers.fcm.messages.find((m) => m['token'] === fcmToken(1))!;
    expect(fcm).toMatchObject({
      notification: { title: 'New from Daft Punk', body: 'Listen now' },
      android: { priority: 'HIGH', collapse_key: 'release-a1' },
    });
    expect((fcm['data'] as Record<string, string>)['albumId']).toBe('a1');
    expect(typeof (fcm['data'] as Record<string, string>)['notificationId']).toBe('string');

    const wp = providers.webpush.received.find((p) => p.endpoint === sub.endpoint)!;
    expect(wp.json).toMatchObject({
      title: 'New from Daft Punk',
      body: 'Listen now',
      data: { albumId: 'a1', n: 2 },
    });
    expect(wp.headers).toMatchObject({ urgency: 'high', 'content-encoding': 'aes128gcm' });
    expect(Number(wp.headers['ttl'])).toBeGreaterThan(3500);
  });

  it('an unknown template, a missing variable, no audience or two audiences: 400 and no job', async () => {
    const before = providers.apns.requests.length;
    for (const body of [
      { userIds: ['s1'], template: 'does-not-exist' },
      { userIds: ['s1'], template: 'new-release', variables: {} },
      { template: 'new-release', variables: { artist: 'x' } },
      { userIds: ['s1'], topic: 't', title: 'a', body: 'b' },
      { userIds: ['s1'], title: 'only a title' },
      { userIds: ['s1'], title: 'a', body: 'b', sendAt: 'tomorrow' },
      { segment: 'whales', title: 'a', body: 'b' },
    ]) {
      const r = await api('POST', '/v1/notifications', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json).toHaveProperty('error.code', 'bad_request');
    }
    expect(
      (
        await api('PUT', '/v1/templates/broken', {
          defaultLocale: 'en',
          locales: { en: { title: '{{ unclosed', body: 'x' } },
        })
      ).status,
    ).toBe(400);
    await new Promise((res) => setTimeout(res, 300));
    expect(providers.apns.requests.length).toBe(before);
  });

  it('the same idempotencyKey returns the same job and sends once', async () => {
    await api('POST', '/v1/devices', { userId: 'i1', platform: 'ios', token: apnsToken(11) });
    const body = { userIds: ['i1'], title: 'Once', body: 'only once', idempotencyKey: 'campaign-42' };
    const a = await api('POST', '/v1/notifications', body);
    const b = await api('POST', '/v1/notifications', body);
    expect(b.json['jobId']).toBe(a.json['jobId']);
    await job(String(a.json['jobId']));
    expect(providers.apns.requests.filter((q) => q.token === apnsToken(11))).toHaveLength(1);
  });

  it('a token the provider reports dead is dropped from the user’s devices; opt-outs are skipped', async () => {
    await api('POST', '/v1/devices', { userId: 'x1', platform: 'ios', token: apnsToken(21) });
    await api('POST', '/v1/devices', { userId: 'x1', platform: 'android', token: fcmToken(21) });
    providers.apns.expireToken(apnsToken(21));
    providers.fcm.setTokenOutcome(fcmToken(21), 'UNREGISTERED');
    await api('POST', '/v1/devices', { userId: 'x2', platform: 'ios', token: apnsToken(22) });
    await api('PUT', '/v1/users/x2/preferences', { optOut: ['marketing'] });
    const r = await api('POST', '/v1/notifications', {
      userIds: ['x1', 'x2'],
      title: 'Sale',
      body: '50% off',
      category: 'marketing',
    });
    const s = await job(String(r.json['jobId']));
    expect(s).toMatchObject({ total: 3, invalidTokens: 2, skipped: 1, delivered: 0 });
    expect((await api('GET', '/v1/users/x1/devices')).json['items']).toEqual([]);
    expect(providers.apns.requests.some((q) => q.token === apnsToken(22))).toBe(false);
  });

  it('quiet hours hold a notification (critical goes through); a retry after 503 is delivered', async () => {
    await api('POST', '/v1/devices', {
      userId: 'q1',
      platform: 'android',
      token: fcmToken(31),
      timezone: 'UTC',
    });
    const h = new Date().getUTCHours();
    const start = `${String(h).padStart(2, '0')}:00`;
    const end = `${String((h + 2) % 24).padStart(2, '0')}:00`;
    expect(
      (await api('PUT', '/v1/users/q1/preferences', { timezone: 'UTC', quietHours: { start, end } })).status,
    ).toBe(200);
    const held = await api('POST', '/v1/notifications', { userIds: ['q1'], title: 'Later', body: 'not now' });
    const s = await job(String(held.json['jobId']));
    expect(s).toMatchObject({ status: 'done', held: 1, delivered: 0 });
    providers.fcm.unavailable503(1, '0');
    const critical = await api('POST', '/v1/notifications', {
      userIds: ['q1'],
      title: 'Now',
      body: 'critical',
      priority: 'critical',
    });
    const c = await job(String(critical.json['jobId']), (j) => j['delivered'] === 1);
    expect(c).toMatchObject({ delivered: 1, held: 0 });
  });

  it('channel "auto": a connected user gets it on user:{id}, the others by push', async () => {
    await api('POST', '/v1/devices', { userId: 'on1', platform: 'android', token: fcmToken(41) });
    await api('POST', '/v1/devices', { userId: 'off1', platform: 'android', token: fcmToken(42) });
    const c = await RawClient.connect(srv.wsUrl, await srv.token({ sub: 'on1', channels: [] }));
    await c.request({ type: 'subscribe', channel: 'user:on1' });
    const r = await api('POST', '/v1/notifications', {
      userIds: ['on1', 'off1'],
      title: 'Live',
      body: 'now',
      channel: 'auto',
      data: { k: 'v' },
    });
    const s = await job(String(r.json['jobId']));
    expect(s['byPlatform']).toMatchObject({ ws: { delivered: 1 }, android: { delivered: 1 } });
    const msg = await c.waitFor(
      (f) => f.type === 'message' && (f['data'] as { kind?: string }).kind === 'notification',
    );
    expect(msg['data']).toMatchObject({ kind: 'notification', title: 'Live', body: 'now', data: { k: 'v' } });
    expect(providers.fcm.messages.some((m) => m['token'] === fcmToken(41))).toBe(false);
    await c.close();
  });
});

describe('experiments', () => {
  it('assigns variants by hash, counts opens from notification.opened events, and reports the results', async () => {
    await api('PUT', '/v1/templates/exp-a', {
      defaultLocale: 'en',
      locales: { en: { title: 'A {{ x }}', body: 'a' } },
    });
    await api('PUT', '/v1/templates/exp-b', {
      defaultLocale: 'en',
      locales: { en: { title: 'B {{ x }}', body: 'b' } },
    });
    const users = Array.from({ length: 40 }, (_, i) => `e${i}`);
    for (const [i, u] of users.entries())
      await api('POST', '/v1/devices', { userId: u, platform: 'android', token: fcmToken(1000 + i) });
    const r = await api('POST', '/v1/notifications', {
      userIds: users,
      variables: { x: '!' },
      experiment: {
        name: 'subject-line',
        variants: [
          { name: 'a', weight: 1, template: 'exp-a' },
          { name: 'b', weight: 1, template: 'exp-b' },
        ],
      },
    });
    const s = await job(String(r.json['jobId']));
    const byVariant = s['byVariant'] as Record<string, { recipients: number }>;
    expect(byVariant['a']!.recipients + byVariant['b']!.recipients).toBe(40);
    expect(byVariant['a']!.recipients).toBeGreaterThan(5);
    // Every user opens the notification they got.
    const sent = providers.fcm.messages.filter((m) => String(m['token']).startsWith('fcm-token-10'));
    const events = sent.map((m, i) => ({
      type: 'notification.opened',
      userId: `e${Number(String(m['token']).split('-')[2]!.split(':')[0]) - 1000}`,
      ts: Date.now() - i,
      data: { notificationId: (m['data'] as Record<string, string>)['notificationId'] },
    }));
    expect((await api('POST', '/v1/events', events)).json['accepted']).toBe(40);
    let result: Record<string, unknown> = {};
    await until(async () => {
      result = (await api('GET', '/v1/experiments/subject-line')).json;
      return (
        ((result['variants'] as Array<{ opened: number }> | undefined) ?? []).reduce(
          (n, v) => n + v.opened,
          0,
        ) === 40
      );
    }, 'opens counted');
    const variants = result['variants'] as Array<{
      name: string;
      sent: number;
      opened: number;
      openRate: number;
    }>;
    expect(variants.map((v) => v.name).sort()).toEqual(['a', 'b']);
    for (const v of variants) expect(v.openRate).toBe(1);
    expect(result['winner']).toBeNull();
    expect((await api('GET', '/v1/experiments/never-ran')).status).toBe(404);
  });

  it('send-time: the default hour without history, a learned hour from the user’s own opens', async () => {
    expect((await api('GET', '/v1/users/st1/send-time')).json).toEqual({
      localHour: 18,
      timezone: 'UTC',
      basis: 'default',
    });
    await api('PUT', '/v1/users/st1/preferences', { timezone: 'Asia/Tokyo' });
    const day = 86_400_000;
    // Opens at 07:xx Tokyo (22:xx UTC) on the last 10 days.
    const base = Date.UTC(2026, 0, 1, 22, 15);
    const now = Date.now();
    const events = Array.from({ length: 10 }, (_, i) => ({
      type: 'app.opened',
      userId: 'st1',
      ts: now - ((now - base) % day) - i * day,
      data: { platform: 'ios' },
    }));
    expect((await api('POST', '/v1/events', events)).json['accepted']).toBe(10);
    await until(
      async () => (await api('GET', '/v1/users/st1/send-time')).json['basis'] === 'learned',
      'learned send time',
    );
    expect((await api('GET', '/v1/users/st1/send-time')).json).toEqual({
      localHour: 7,
      timezone: 'Asia/Tokyo',
      basis: 'learned',
    });
  });
});

describe('a dead provider', () => {
  it('its devices fail after their attempts while the other providers deliver', async () => {
    const others = await startProviderServers();
    // APNs points at a port nobody listens on: every send is a network error → retry.
    const dead = await startTestServer({
      ...others.env,
      APNS_URL: 'https://127.0.0.1:9',
      PUSH_MAX_ATTEMPTS: '3',
      PUSH_RETRY_BASE_MS: '50',
    });
    const token = await dead.token({ sub: 'svc', scope: 'push:send' });
    const call = async (method: string, path: string, body?: unknown) =>
      (
        await fetch(`${dead.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).json() as Promise<Record<string, unknown>>;
    try {
      const key = String(
        ((await (await fetch(`${dead.url}/v1/push/vapid-public-key`)).json()) as { publicKey: string })
          .publicKey,
      );
      for (let i = 0; i < 5; i++) {
        await call('POST', '/v1/devices', { userId: `dp${i}`, platform: 'ios', token: apnsToken(500 + i) });
        await call('POST', '/v1/devices', {
          userId: `dp${i}`,
          platform: 'android',
          token: fcmToken(500 + i),
        });
        await call('POST', '/v1/devices', {
          userId: `dp${i}`,
          platform: 'web',
          subscription: others.webpush.newSubscription({ applicationServerKey: key }),
        });
      }
      const r = await call('POST', '/v1/notifications', {
        userIds: [0, 1, 2, 3, 4].map((i) => `dp${i}`),
        title: 'still',
        body: 'here',
      });
      let s: Record<string, unknown> = {};
      await until(
        async () => (s = await call('GET', `/v1/notifications/${String(r['jobId'])}`))['status'] === 'done',
        'job done',
        30_000,
      );
      expect(s).toMatchObject({ total: 15, delivered: 10, failed: 5 });
      expect(s['byPlatform']).toMatchObject({
        ios: { failed: 5, delivered: 0 },
        android: { delivered: 5 },
        web: { delivered: 5 },
      });
      const metrics = await (await fetch(`${dead.url}/metrics`)).text();
      expect(metrics).toMatch(/backbeat_push_deliveries_total\{provider="apns",outcome="retry"\} (\d+)/);
    } finally {
      await dead.close();
      await others.close();
    }
  }, 60_000);
});

describe('segments as audiences', () => {
  it('a notification to an analytics segment reaches its members (and only them)', async () => {
    const day = 86_400_000;
    const now = Date.now();
    // Two users whose first event is today ("new"), one first seen 40 days ago ("dormant").
    const play = (userId: string, ts: number) => ({
      type: 'track.played',
      userId,
      ts,
      data: { trackId: 'seg-t', artistId: 'seg-a', durationMs: 1000, playedMs: 900 },
    });
    expect(
      (
        await api('POST', '/v1/events', [
          play('seg-new-1', now - 1000),
          play('seg-new-2', now - 2000),
          play('seg-old', now - 40 * day),
        ])
      ).json['accepted'],
    ).toBe(3);
    for (const [i, u] of ['seg-new-1', 'seg-new-2', 'seg-old'].entries())
      await api('POST', '/v1/devices', { userId: u, platform: 'android', token: fcmToken(700 + i) });
    const analytics = await srv.token({ sub: 'reader', scope: 'analytics:read' });
    await until(async () => {
      const segs = (await api('GET', '/v1/analytics/segments', undefined, analytics)).json[
        'segments'
      ] as Array<{ name: string; users: number }>;
      return (segs.find((s) => s.name === 'new')?.users ?? 0) >= 2;
    }, 'analytics sees the new users');
    const r = await api('POST', '/v1/notifications', {
      segment: 'new',
      title: 'Welcome',
      body: 'to Backbeat',
    });
    expect(r.status).toBe(202);
    await job(String(r.json['jobId']));
    const got = providers.fcm.messages
      .filter((m) => [fcmToken(700), fcmToken(701), fcmToken(702)].includes(String(m['token'])))
      .map((m) => m['token']);
    expect(got.sort()).toEqual([fcmToken(700), fcmToken(701)].sort());
    expect(
      (await api('POST', '/v1/notifications', { segment: 'no-such-segment', title: 'a', body: 'b' })).status,
    ).toBe(400);
  });
});
