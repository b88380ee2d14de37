/**
 * Durable push jobs across `kill -9` (SPEC §6): a real node process (embedded SQLite store
 * under its DATA_DIR) sends one notification to 1,500 devices on the local APNs, FCM and
 * Web Push servers. APNs answers slowly (150 ms, 300 ms after the kill), so the job takes
 * seconds and keeps PUSH_MAX_IN_FLIGHT deliveries on the wire. The node is SIGKILLed
 * mid-job, at a moment when requests are in flight to APNs, and restarted on the same
 * DATA_DIR (so with the same NODE_ID). Afterwards:
 * - the job is `done` and its counters add up (delivered == devices);
 * - every device got the notification;
 * - the devices that got it twice are at most what was in flight at the crash
 *   (PUSH_MAX_IN_FLIGHT), counted per device on the servers both as accepted
 *   notifications and as requests that merely arrived (the worst case: a request the
 *   provider received but whose answer the dead node never read);
 * - every request APNs had not answered at the crash was sent again;
 * - the restarted node took its dead predecessor's recipients over once their leases
 *   lapsed, while the rest of the job was still going (not only at its end).
 */
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHs256 } from '../../src/core/auth/index.ts';
import { freePort, NodeProcess } from '../helpers/processes.ts';
import { ApnsTestServer, generateKey } from '../helpers/push-servers/apns-server.ts';
import { startFcmServer, type FcmServer } from '../helpers/push-servers/fcm-server.ts';
import { fcmToken } from '../helpers/push-servers/index.ts';
import { startWebPushServer, type WebPushServer } from '../helpers/push-servers/webpush-server.ts';
import { TEST_SECRET } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const IOS = 1000;
const ANDROID = 250;
const WEB = 250;
const DEVICES = IOS + ANDROID + WEB;
const MAX_IN_FLIGHT = 50;
const LEASE_MS = 6000;
const BATCH = 100;
const APNS_LATENCY_MS = 150;
/** After the kill APNs slows down, so the rest of the job outlasts the dead process's leases by far. */
const APNS_LATENCY_AFTER_KILL_MS = 300;
/** Distinct per n (zero padding, unlike the helpers' `apnsToken`, never makes two numbers one token). */
const iosToken = (n: number): string => n.toString(16).padStart(64, '0');

let apns: CountingApns;
let fcm: FcmServer;
let webpush: WebPushServer;
let node: NodeProcess;

beforeAll(async () => {
  [apns, fcm, webpush] = await Promise.all([
    startCountingApns({ latencyMs: APNS_LATENCY_MS }),
    startFcmServer(),
    startWebPushServer(),
  ]);
});
afterAll(async () => {
  await node?.stop();
  await Promise.all([apns?.close(), fcm?.close(), webpush?.close()]);
});

describe('a push job across kill -9 and restart (embedded store)', () => {
  it(
    'resumes on the same DATA_DIR: every device once, duplicates at most what was in flight',
    { timeout: 120_000 },
    async () => {
      node = new NodeProcess(await freePort(), {
        JWT_SECRET: TEST_SECRET,
        NODE_ID: 'push-crash',
        ...apns.env,
        FCM_SERVICE_ACCOUNT: JSON.stringify(fcm.serviceAccount),
        FCM_URL: fcm.url,
        PUSH_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
        PUSH_BATCH_SIZE: String(BATCH),
        PUSH_LEASE_MS: String(LEASE_MS),
        HTTP_MAX_PENDING_BODIES_PER_IP: '64',
      });
      await node.start();
      const token = await signHs256(TEST_SECRET, { sub: 'svc', scope: 'push:send' }, 3600);
      const api = apiOf(() => node.url, token);
      const vapidKey = String((await api('GET', '/v1/push/vapid-public-key')).json['publicKey']);

      // One device per user, all on the topic the notification names.
      const webEndpoints: string[] = [];
      const bodies = Array.from({ length: DEVICES }, (_, i) => {
        const base = { userId: `u${i}`, topics: ['crash'] };
        if (i < IOS) return { ...base, platform: 'ios', token: iosToken(i + 1) };
        if (i < IOS + ANDROID) return { ...base, platform: 'android', token: fcmToken(i + 1) };
        const sub = webpush.newSubscription({ applicationServerKey: vapidKey });
        webEndpoints.push(sub.endpoint);
        return { ...base, platform: 'web', subscription: sub };
      });
      await inParallel(bodies, 32, async (b) =>
        expect((await api('POST', '/v1/devices', b)).status).toBe(201),
      );

      const created = await api('POST', '/v1/notifications', {
        topic: 'crash',
        title: 'New release',
        body: 'Out now',
        priority: 'high',
      });
      expect(created).toMatchObject({ status: 202, json: { recipients: DEVICES } });
      const jobId = String(created.json['jobId']);

      // Mid-job (a fifth of the iOS devices answered), at a moment when requests are on the
      // wire to APNs (arrived, not answered): the crash this bound is about.
      await until(() => apns.server.requests.length >= IOS / 5, 'the job under way', 60_000);
      await until(
        () => apns.arrivals.length - apns.server.requests.length >= MAX_IN_FLIGHT / 2,
        'requests in flight to APNs',
        60_000,
      );
      // Taken in the same turn as that check and the SIGKILL (no I/O in between): requests
      // that arrived and were not answered; no answer to them can reach the node before it dies.
      const answered = new Set(apns.server.requests.map((r) => r.token));
      const onTheWire = [...new Set(apns.arrivals)].filter((t) => !answered.has(t));
      const atKill = { apnsArrived: apns.arrivals.length, apnsAccepted: apns.server.requests.length };
      await node.kill();
      apns.server.latencyMs = APNS_LATENCY_AFTER_KILL_MS;
      expect(atKill.apnsAccepted).toBeLessThan(IOS);
      expect(onTheWire.length).toBeGreaterThanOrEqual(MAX_IN_FLIGHT / 2);

      await node.start();
      const status = await jobStatus(api, jobId);
      expect(status).toMatchObject({
        status: 'done',
        total: DEVICES,
        delivered: DEVICES,
        failed: 0,
        skipped: 0,
        pending: 0,
      });
      expect(status['sent']).toBe(DEVICES);
      expect(status['byPlatform']).toEqual({
        ios: { sent: IOS, delivered: IOS, failed: 0 },
        android: { sent: ANDROID, delivered: ANDROID, failed: 0 },
        web: { sent: WEB, delivered: WEB, failed: 0 },
      });

      // Per device, on the servers. Accepted = the provider took it (the device gets it);
      // arrived = the request reached the provider at all (APNs, FCM), answered or not.
      const accepted = new Map<string, number>();
      const arrived = new Map<string, number>();
      const add = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
      for (const r of apns.server.requests) add(accepted, `ios:${r.token}`);
      for (const t of apns.arrivals) add(arrived, `ios:${t}`);
      for (const m of fcm.messages) add(accepted, `android:${String(m['token'])}`);
      for (const r of fcm.requests)
        add(
          arrived,
          `android:${String((r.body as { message?: { token?: unknown } } | undefined)?.message?.token ?? '?')}`,
        );
      for (const p of webpush.received) add(accepted, `web:${p.endpoint}`);
      for (const [k, n] of accepted) if (k.startsWith('web:')) arrived.set(k, n); // the Web Push server records accepted pushes only

      const expected = [
        ...Array.from({ length: IOS }, (_, i) => `ios:${iosToken(i + 1)}`),
        ...Array.from({ length: ANDROID }, (_, i) => `android:${fcmToken(IOS + i + 1)}`),
        ...webEndpoints.map((e) => `web:${e}`),
      ];
      const missing = expected.filter((k) => !accepted.has(k));
      expect(missing).toEqual([]);
      expect(accepted.size).toBe(DEVICES);
      expect(arrived.size).toBe(DEVICES);

      const twiceAccepted = [...accepted.values()].filter((n) => n > 1).length;
      const twiceArrived = [...arrived.values()].filter((n) => n > 1).length;
      const most = Math.max(...arrived.values());
      console.info(
        `push-crash: ${DEVICES} devices; at the kill APNs had ${atKill.apnsArrived} arrived / ${atKill.apnsAccepted} accepted (${onTheWire.length} on the wire); ` +
          `devices accepted twice: ${twiceAccepted}, arrived twice: ${twiceArrived} (bound PUSH_MAX_IN_FLIGHT=${MAX_IN_FLIGHT}); most arrivals for one device: ${most}`,
      );
      // Only what was in flight at the crash may be sent again, and only once more.
      expect(twiceArrived).toBeLessThanOrEqual(MAX_IN_FLIGHT);
      expect(twiceAccepted).toBeLessThanOrEqual(twiceArrived);
      expect(most).toBeLessThanOrEqual(2);
      // Every request on the wire to APNs when the node died was sent again, once.
      expect(onTheWire.filter((t) => arrived.get(`ios:${t}`) !== 2)).toEqual([]);
      // The restarted node (same NODE_ID) took its dead predecessor's recipients over once
      // their leases lapsed, while the rest of the job was still going, not at its very end.
      const seen = new Set<string>();
      let lastResend = -1;
      apns.arrivals.forEach((t, i) => {
        if (seen.has(t)) lastResend = i;
        seen.add(t);
      });
      const afterLastResend = apns.arrivals.length - 1 - lastResend;
      console.info(
        `push-crash: APNs arrivals after the last re-send: ${afterLastResend} of ${apns.arrivals.length}`,
      );
      expect(afterLastResend).toBeGreaterThan(BATCH);
    },
  );
});

type Api = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; json: Record<string, unknown> }>;

function apiOf(url: () => string, token: string): Api {
  return async (method, path, body) => {
    const r = await fetch(`${url()}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    return { status: r.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };
}

async function jobStatus(api: Api, jobId: string): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> = {};
  await until(
    async () => (last = (await api('GET', `/v1/notifications/${jobId}`)).json)['status'] === 'done',
    `job ${jobId} done`,
    90_000,
  );
  return last;
}

interface CountingApns {
  server: ApnsTestServer;
  /** The device token of every request, as it arrives (before any answer). */
  arrivals: string[];
  /** APNS_* for a node. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * The local APNs server (as `startApnsServer` builds it) with one more listener: every
 * request is recorded when it arrives, so a request whose answer the client never read
 * (it died) still counts as one the device may have got.
 */
async function startCountingApns(opts: { latencyMs: number }): Promise<CountingApns> {
  const dir = process.env.TEST_TLS_DIR;
  if (!dir)
    throw new Error(
      'TEST_TLS_DIR is not set: run `source scripts/lib/ensure.sh && ensure_test_ca` before vitest',
    );
  const topic = 'com.backbeat.test';
  const keys = [generateKey('KEY0000001', 'TEAM000001', [topic])];
  const h2 = createSecureServer({
    cert: readFileSync(join(dir, 'server.pem')),
    key: readFileSync(join(dir, 'server-key.pem')),
    allowHTTP1: false,
    settings: { maxConcurrentStreams: 1 },
  });
  h2.on('sessionError', () => undefined);
  const arrivals: string[] = [];
  h2.on('stream', (_stream, headers) => {
    const path = String(headers[':path'] ?? '');
    if (path.startsWith('/3/device/')) arrivals.push(path.slice('/3/device/'.length));
  });
  await new Promise<void>((resolve, reject) => {
    h2.once('error', reject);
    h2.listen(0, '127.0.0.1', () => resolve());
  });
  const server = new ApnsTestServer(h2, `https://127.0.0.1:${(h2.address() as AddressInfo).port}`, keys, {
    topic,
    latencyMs: opts.latencyMs,
  });
  const key = server.key;
  return {
    server,
    arrivals,
    env: {
      APNS_KEY: key.privateKeyPem,
      APNS_KEY_ID: key.keyId,
      APNS_TEAM_ID: key.teamId,
      APNS_TOPIC: topic,
      APNS_URL: server.url,
    },
    close: () => server.close(),
  };
}

async function inParallel<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
