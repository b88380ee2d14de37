/**
 * Push jobs on a cluster (SPEC §6, §1): two real node processes sharing one PostgreSQL
 * store (a schema of this test's own) and one Redis (a prefix of its own), both running
 * job runners, against the local APNs, FCM and Web Push servers (APNs answers slowly, so
 * a job takes seconds). A job of 1,500 devices created on node A is sent by both nodes
 * together, each device exactly once (counted per device on the servers, as requests
 * arrived and as notifications accepted), and each node's /metrics shows its share. Then
 * node A is SIGKILLed in the middle of a second job: node B takes A's recipients over when
 * their leases lapse, the job completes, and the devices that got it twice are at most
 * what A had in flight (PUSH_MAX_IN_FLIGHT). The nodes use two APNs topics of one key, so
 * the APNs server can tell which node sent each request.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHs256 } from '../../src/core/auth/index.ts';
import { generateVapidKeys } from '../../src/push/providers/webpush/index.ts';
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
const LEASE_MS = 3000;
const APNS_LATENCY_MS = 150;
const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const TOPIC_A = 'com.backbeat.node-a';
const TOPIC_B = 'com.backbeat.node-b';
const REDIS_PREFIX = `push-cluster-${randomBytes(6).toString('hex')}:`;
/** Distinct per n (zero padding, unlike the helpers' `apnsToken`, never makes two numbers one token). */
const iosToken = (n: number): string => n.toString(16).padStart(64, '0');

let apns: CountingApns;
let fcm: FcmServer;
let webpush: WebPushServer;
let db: TestSchema;
const nodes: NodeProcess[] = [];

beforeAll(async () => {
  [apns, fcm, webpush, db] = await Promise.all([
    startCountingApns({ latencyMs: APNS_LATENCY_MS, topics: [TOPIC_A, TOPIC_B] }),
    startFcmServer(),
    startWebPushServer(),
    createSchema(),
  ]);
});
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await Promise.all([apns?.close(), fcm?.close(), webpush?.close()]);
  await db?.drop();
  // The killed node never deregistered: remove what the cluster left under this test's prefix.
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const keys: string[] = [];
    for await (const batch of redis.scanStream({ match: `${REDIS_PREFIX}*`, count: 500 }) as AsyncIterable<
      string[]
    >)
      keys.push(...batch);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
});

describe('push jobs on two nodes sharing PostgreSQL and Redis', () => {
  it(
    'both nodes send one job, each device exactly once; after kill -9 of one the other finishes with duplicates at most its in-flight',
    { timeout: 150_000 },
    async () => {
      const vapid = generateVapidKeys();
      const env = {
        JWT_SECRET: TEST_SECRET,
        DATABASE_URL: db.url,
        REDIS_URL,
        REDIS_PREFIX,
        ...apns.env,
        FCM_SERVICE_ACCOUNT: JSON.stringify(fcm.serviceAccount),
        FCM_URL: fcm.url,
        // One VAPID pair for the cluster: browsers subscribe with one applicationServerKey.
        VAPID_PUBLIC_KEY: vapid.publicKey,
        VAPID_PRIVATE_KEY: vapid.privateKey,
        PUSH_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT),
        PUSH_BATCH_SIZE: '100',
        PUSH_LEASE_MS: String(LEASE_MS),
        HTTP_MAX_PENDING_BODIES_PER_IP: '64',
        HEARTBEAT_INTERVAL_MS: '300',
        NODE_TTL_MS: '1500',
      };
      const a = new NodeProcess(await freePort(), { ...env, NODE_ID: 'push-a', APNS_TOPIC: TOPIC_A });
      const b = new NodeProcess(await freePort(), { ...env, NODE_ID: 'push-b', APNS_TOPIC: TOPIC_B });
      nodes.push(a, b);
      await a.start();
      await b.start();
      const token = await signHs256(TEST_SECRET, { sub: 'svc', scope: 'push:send' }, 3600);
      const onA = apiOf(a.url, token);
      const onB = apiOf(b.url, token);
      expect((await onB('GET', '/v1/push/vapid-public-key')).json['publicKey']).toBe(vapid.publicKey);

      // One device per user, registered through both nodes into the one store.
      const webEndpoints: string[] = [];
      const bodies = Array.from({ length: DEVICES }, (_, i) => {
        const base = { userId: `u${i}`, topics: ['fans'] };
        if (i < IOS) return { ...base, platform: 'ios', token: iosToken(i + 1) };
        if (i < IOS + ANDROID) return { ...base, platform: 'android', token: fcmToken(i + 1) };
        const sub = webpush.newSubscription({ applicationServerKey: vapid.publicKey });
        webEndpoints.push(sub.endpoint);
        return { ...base, platform: 'web', subscription: sub };
      });
      await inParallel(bodies, 32, async (body, i) =>
        expect((await (i % 2 ? onB : onA)('POST', '/v1/devices', body)).status).toBe(201),
      );
      const expected = [
        ...Array.from({ length: IOS }, (_, i) => `ios:${iosToken(i + 1)}`),
        ...Array.from({ length: ANDROID }, (_, i) => `android:${fcmToken(IOS + i + 1)}`),
        ...webEndpoints.map((e) => `web:${e}`),
      ];

      // 1. Both nodes send the job created on A; no device twice.
      const first = providerMarks();
      const job1 = await onA('POST', '/v1/notifications', {
        topic: 'fans',
        title: 'Tour dates',
        body: 'Tickets on sale',
        priority: 'high',
      });
      expect(job1).toMatchObject({ status: 202, json: { recipients: DEVICES } });
      const status1 = await jobDone(onB, String(job1.json['jobId']));
      expect(status1).toMatchObject({
        status: 'done',
        total: DEVICES,
        sent: DEVICES,
        delivered: DEVICES,
        failed: 0,
        pending: 0,
      });
      const seen1 = perDevice(first);
      expect(expected.filter((k) => seen1.accepted.get(k) !== 1)).toEqual([]);
      expect(expected.filter((k) => seen1.arrived.get(k) !== 1)).toEqual([]);
      expect(seen1.accepted.size).toBe(DEVICES);
      expect(seen1.arrived.size).toBe(DEVICES);
      const [sentByA, sentByB] = await Promise.all([deliveries(a.url), deliveries(b.url)]);
      const apnsByTopic = countBy(apns.arrivals.slice(first.apnsArrived).map((r) => r.topic));
      console.info(
        `push-cluster: job 1 of ${DEVICES} devices: node A delivered ${sentByA}, node B ${sentByB} (/metrics); ` +
          `APNs requests from A ${apnsByTopic.get(TOPIC_A) ?? 0}, from B ${apnsByTopic.get(TOPIC_B) ?? 0}; devices with more than one request: 0`,
      );
      expect(sentByA).toBeGreaterThan(0);
      expect(sentByB).toBeGreaterThan(0);
      // Each node counted only its own sends, and together they sent each device once.
      expect(sentByA + sentByB).toBe(DEVICES);
      expect(apnsByTopic.get(TOPIC_A)).toBeGreaterThan(0);
      expect(apnsByTopic.get(TOPIC_B)).toBeGreaterThan(0);

      // 2. Kill -9 node A in the middle of a second job (created on A) with requests on the wire.
      const second = providerMarks();
      const job2 = await onA('POST', '/v1/notifications', {
        topic: 'fans',
        title: 'Doors open',
        body: 'See you tonight',
        priority: 'high',
      });
      expect(job2).toMatchObject({ status: 202, json: { recipients: DEVICES } });
      await until(
        () => apns.server.requests.length - second.apnsAccepted >= IOS / 5,
        'job 2 under way',
        60_000,
      );
      // A's requests that arrived and were not answered, taken in the same turn as the
      // check and the SIGKILL (no I/O in between): no answer to them can reach A before it dies.
      const aOnTheWire = (): string[] => {
        const answered = new Set(
          apns.server.requests
            .slice(second.apnsAccepted)
            .filter((r) => r.headers['apns-topic'] === TOPIC_A)
            .map((r) => r.token),
        );
        return [
          ...new Set(
            apns.arrivals
              .slice(second.apnsArrived)
              .filter((r) => r.topic === TOPIC_A)
              .map((r) => r.token),
          ),
        ].filter((t) => !answered.has(t));
      };
      const bBeforeKill = await deliveries(b.url);
      let onTheWire: string[] = [];
      await until(
        () => (onTheWire = aOnTheWire()).length >= MAX_IN_FLIGHT / 2,
        'requests from node A in flight to APNs',
        60_000,
      );
      await a.kill();
      const status2 = await jobDone(onB, String(job2.json['jobId']));
      expect(status2).toMatchObject({
        status: 'done',
        total: DEVICES,
        sent: DEVICES,
        delivered: DEVICES,
        failed: 0,
        pending: 0,
      });
      expect(status2['byPlatform']).toEqual({
        ios: { sent: IOS, delivered: IOS, failed: 0 },
        android: { sent: ANDROID, delivered: ANDROID, failed: 0 },
        web: { sent: WEB, delivered: WEB, failed: 0 },
      });
      const seen2 = perDevice(second);
      expect(expected.filter((k) => !seen2.accepted.has(k))).toEqual([]);
      expect(seen2.accepted.size).toBe(DEVICES);
      const twiceAccepted = [...seen2.accepted.values()].filter((n) => n > 1).length;
      const twiceArrived = [...seen2.arrived.values()].filter((n) => n > 1).length;
      const bAfter = await deliveries(b.url);
      console.info(
        `push-cluster: job 2 (A killed mid-job with ${onTheWire.length} requests on the wire to APNs): B delivered ${bAfter - bBeforeKill} after the kill; devices accepted twice: ${twiceAccepted}, ` +
          `arrived twice: ${twiceArrived} (bound: A's PUSH_MAX_IN_FLIGHT=${MAX_IN_FLIGHT}); most arrivals for one device: ${Math.max(...seen2.arrived.values())}`,
      );
      expect(twiceArrived).toBeLessThanOrEqual(MAX_IN_FLIGHT);
      expect(twiceAccepted).toBeLessThanOrEqual(twiceArrived);
      expect(Math.max(...seen2.arrived.values())).toBeLessThanOrEqual(2);
      // B took A's recipients over: what A had on the wire when it died, B sent again (once).
      const resentByB = new Set(
        apns.arrivals
          .slice(second.apnsArrived)
          .filter((r) => r.topic === TOPIC_B)
          .map((r) => r.token),
      );
      expect(onTheWire.filter((t) => seen2.arrived.get(`ios:${t}`) !== 2 || !resentByB.has(t))).toEqual([]);
      expect(bAfter).toBeGreaterThan(bBeforeKill);
    },
  );
});

// ---- providers, per device ----------------------------------------------------------

interface Marks {
  apnsArrived: number;
  apnsAccepted: number;
  fcmRequests: number;
  fcmMessages: number;
  web: number;
}

/** Where each server's records stand now: a job's records are those after its marks (jobs here do not overlap). */
function providerMarks(): Marks {
  return {
    apnsArrived: apns.arrivals.length,
    apnsAccepted: apns.server.requests.length,
    fcmRequests: fcm.requests.length,
    fcmMessages: fcm.messages.length,
    web: webpush.received.length,
  };
}

/**
 * Per device since `m`: how often the provider accepted the notification, and how often a
 * request for it arrived at all (APNs and FCM record arrivals; the Web Push server only
 * records what it accepted).
 */
function perDevice(m: Marks): { accepted: Map<string, number>; arrived: Map<string, number> } {
  const accepted = new Map<string, number>();
  const arrived = new Map<string, number>();
  const add = (map: Map<string, number>, k: string) => map.set(k, (map.get(k) ?? 0) + 1);
  for (const r of apns.server.requests.slice(m.apnsAccepted)) add(accepted, `ios:${r.token}`);
  for (const r of apns.arrivals.slice(m.apnsArrived)) add(arrived, `ios:${r.token}`);
  for (const msg of fcm.messages.slice(m.fcmMessages)) add(accepted, `android:${String(msg['token'])}`);
  for (const r of fcm.requests.slice(m.fcmRequests))
    add(
      arrived,
      `android:${String((r.body as { message?: { token?: unknown } } | undefined)?.message?.token ?? '?')}`,
    );
  for (const p of webpush.received.slice(m.web)) {
    add(accepted, `web:${p.endpoint}`);
    add(arrived, `web:${p.endpoint}`);
  }
  return { accepted, arrived };
}

function countBy(items: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}

/** `backbeat_push_deliveries_total{outcome="delivered"}` of one node, over its providers. */
async function deliveries(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('backbeat_push_deliveries_total{') && line.includes('outcome="delivered"'))
      n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

interface CountingApns {
  server: ApnsTestServer;
  /** The device token and apns-topic of every request, as it arrives (before any answer). */
  arrivals: Array<{ token: string; topic: string }>;
  /** APNS_* for a node, but APNS_TOPIC (one of the key's topics). */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * The local APNs server (as `startApnsServer` builds it) with one more listener: every
 * request is recorded when it arrives, so a request whose answer the client never read
 * (it died) still counts as one the device may have got.
 */
async function startCountingApns(opts: { latencyMs: number; topics: string[] }): Promise<CountingApns> {
  const dir = process.env.TEST_TLS_DIR;
  if (!dir)
    throw new Error(
      'TEST_TLS_DIR is not set: run `source scripts/lib/ensure.sh && ensure_test_ca` before vitest',
    );
  const keys = [generateKey('KEY0000001', 'TEAM000001', opts.topics)];
  const h2 = createSecureServer({
    cert: readFileSync(join(dir, 'server.pem')),
    key: readFileSync(join(dir, 'server-key.pem')),
    allowHTTP1: false,
    settings: { maxConcurrentStreams: 1 },
  });
  h2.on('sessionError', () => undefined);
  const arrivals: CountingApns['arrivals'] = [];
  h2.on('stream', (_stream, headers) => {
    const path = String(headers[':path'] ?? '');
    if (path.startsWith('/3/device/'))
      arrivals.push({ token: path.slice('/3/device/'.length), topic: String(headers['apns-topic'] ?? '') });
  });
  await new Promise<void>((resolve, reject) => {
    h2.once('error', reject);
    h2.listen(0, '127.0.0.1', () => resolve());
  });
  const server = new ApnsTestServer(h2, `https://127.0.0.1:${(h2.address() as AddressInfo).port}`, keys, {
    topic: opts.topics[0]!,
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
      APNS_URL: server.url,
    },
    close: () => server.close(),
  };
}

// ---- PostgreSQL isolation ------------------------------------------------------------

interface TestSchema {
  /** TEST_DATABASE_URL reaching only this schema (`options=-c search_path=…`). */
  url: string;
  drop(): Promise<void>;
}

/** A fresh schema in TEST_DATABASE_URL for this test's store, dropped at the end. */
async function createSchema(): Promise<TestSchema> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base)
    throw new Error(
      'TEST_DATABASE_URL is not set: run `source scripts/lib/ensure.sh && ensure_postgres` before vitest',
    );
  const schema = `bb_push_cluster_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string): Promise<void> => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE SCHEMA ${schema}`);
  return {
    url: `${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    drop: () => admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`),
  };
}

// ---- HTTP ----------------------------------------------------------------------------

type Api = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; json: Record<string, unknown> }>;

function apiOf(url: string, token: string): Api {
  return async (method, path, body) => {
    const r = await fetch(`${url}${path}`, {
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

async function jobDone(api: Api, jobId: string): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> = {};
  await until(
    async () => (last = (await api('GET', `/v1/notifications/${jobId}`)).json)['status'] === 'done',
    `job ${jobId} done`,
    90_000,
  );
  return last;
}

async function inParallel<T>(
  items: readonly T[],
  width: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}
