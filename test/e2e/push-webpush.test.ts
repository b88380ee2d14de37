/**
 * The Web Push client against the protocol-true local push service over TLS: the service
 * decrypts exactly the JSON sent (SPEC §6), `web-push` (oracle) is accepted and decrypted
 * the same way, our ciphertext also decrypts with `http_ece`, VAPID is cached per origin,
 * headers follow SPEC §6, and every status maps to its outcome (push-providers.md §4.4).
 */
import type { ECDH } from 'node:crypto';
import { request } from 'node:https';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeSubscriptionKeys,
  encryptAes128gcm,
  generateVapidKeys,
  MAX_PLAINTEXT_BYTES,
  WebPushProvider,
  type PreparedPush,
} from '../../src/push/providers/webpush/index.ts';
import type { PushMessage, PushOutcome } from '../../src/push/providers/types.ts';
import {
  decryptAes128gcm,
  startWebPushServer,
  type WebPushServer,
} from '../helpers/push-servers/webpush-server.ts';

// Dev-only oracles, CommonJS without type declarations: typed here by what is used.
const require = createRequire(import.meta.url);
interface WebPushOptions {
  vapidDetails: { subject: string; publicKey: string; privateKey: string };
  TTL?: number;
  urgency?: string;
  topic?: string;
}
const webpush = require('web-push') as {
  sendNotification(
    sub: object,
    payload: string,
    options: WebPushOptions,
  ): Promise<{ statusCode: number; headers: Record<string, string> }>;
  generateRequestDetails(
    sub: object,
    payload: string,
    options: WebPushOptions,
  ): { headers: Record<string, string>; body: Buffer };
  setVapidDetails(subject: string, publicKey: string, privateKey: string): void;
};
const ece = require('http_ece') as {
  decrypt(body: Buffer, params: { version: 'aes128gcm'; privateKey: ECDH; authSecret: string }): Buffer;
};

const SUBJECT = 'mailto:ops@backbeat.example';
const vapid = generateVapidKeys();
const base: PushMessage = {
  notificationId: 'job-7:bob',
  title: 'Nouveautés',
  body: 'Écoutez « Blue » 🎷',
  priority: 'normal',
  data: { trackId: 't9', n: 3, nested: { a: [1, 2] } },
};

let wp: WebPushServer;
const open: WebPushProvider[] = [];
function provider(over: Partial<ConstructorParameters<typeof WebPushProvider>[0]> = {}): WebPushProvider {
  const p = new WebPushProvider({ vapid: { ...vapid, subject: SUBJECT }, requestTimeoutMs: 5000, ...over });
  open.push(p);
  return p;
}
const web = (subscription: { endpoint: string; keys: { p256dh: string; auth: string } }) => ({
  platform: 'web' as const,
  subscription,
});

beforeAll(async () => {
  wp = await startWebPushServer();
});
afterAll(async () => {
  await wp.close();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
  wp.received.length = 0;
});

describe('Web Push: what the push service receives (SPEC §6)', () => {
  it.each([
    ['low', 60, undefined, { ttl: '60', urgency: 'low' }],
    ['normal', undefined, 'album-42', { ttl: '2419200', urgency: 'normal', topic: 'album-42' }],
    ['high', 0, 'x', { ttl: '0', urgency: 'high', topic: 'x' }],
    ['critical', 3600, undefined, { ttl: '3600', urgency: 'high' }],
  ] as const)('priority %s, ttl %s, collapse %s → %o', async (priority, ttlSeconds, collapseKey, headers) => {
    const sub = wp.newSubscription({ applicationServerKey: vapid.publicKey });
    const message: PushMessage = {
      ...base,
      priority,
      ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
      ...(collapseKey === undefined ? {} : { collapseKey }),
    };
    const outcome = await provider().send(web(sub), message);
    expect(outcome).toMatchObject({ kind: 'delivered', status: 201 });
    expect(outcome.kind === 'delivered' && outcome.providerId).toMatch(new RegExp(`^${wp.origin}/message/`));
    expect(wp.received).toHaveLength(1);
    const got = wp.received[0]!;
    expect(got.endpoint).toBe(sub.endpoint);
    expect(got.json).toEqual({
      title: 'Nouveautés',
      body: 'Écoutez « Blue » 🎷',
      notificationId: 'job-7:bob',
      data: base.data,
    });
    expect(got.plaintext).toBe(
      JSON.stringify({
        title: base.title,
        body: base.body,
        notificationId: base.notificationId,
        data: base.data,
      }),
    );
    expect(got.headers['content-encoding']).toBe('aes128gcm');
    expect(got.headers['content-type']).toBe('application/octet-stream');
    expect({
      ttl: got.headers['ttl'],
      urgency: got.headers['urgency'],
      ...(got.headers['topic'] ? { topic: got.headers['topic'] } : {}),
    }).toEqual(headers);
    expect(got.vapid.k).toBe(vapid.publicKey);
    expect(got.vapid.claims).toMatchObject({ aud: wp.origin, sub: SUBJECT });
  });

  it('hashes a collapse key that is not a valid Topic into 32 URL-safe base64 characters, stably', async () => {
    const sub = wp.newSubscription();
    const p = provider();
    const key = 'new release: Nils Frahm / "All Melody" (deluxe)';
    await p.send(web(sub), { ...base, collapseKey: key });
    await p.send(web(sub), { ...base, collapseKey: key });
    await p.send(web(sub), { ...base, collapseKey: `${key}!` });
    const topics = wp.received.map((r) => r.headers['topic']);
    expect(topics[0]).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(topics[1]).toBe(topics[0]);
    expect(topics[2]).not.toBe(topics[0]);
  });

  it('sends data {} when the message has none', async () => {
    const sub = wp.newSubscription();
    const { data: _data, ...bare } = base;
    await provider().send(web(sub), bare);
    expect(wp.received[0]!.json).toEqual({
      title: base.title,
      body: base.body,
      notificationId: base.notificationId,
      data: {},
    });
  });
});

describe('Web Push: oracles', () => {
  it('the same notification through web-push is accepted and decrypted identically', async () => {
    const sub = wp.newSubscription({ applicationServerKey: vapid.publicKey });
    const message: PushMessage = { ...base, priority: 'high', ttlSeconds: 120, collapseKey: 'same' };
    expect((await provider().send(web(sub), message)).kind).toBe('delivered');
    const payload = JSON.stringify({
      title: message.title,
      body: message.body,
      notificationId: message.notificationId,
      data: message.data,
    });
    const res = await webpush.sendNotification(sub, payload, {
      vapidDetails: { subject: SUBJECT, ...vapid },
      TTL: 120,
      urgency: 'high',
      topic: 'same',
    });
    expect(res.statusCode).toBe(201);
    expect(wp.received).toHaveLength(2);
    const [ours, theirs] = wp.received as [(typeof wp.received)[0], (typeof wp.received)[0]];
    expect(ours.plaintext).toBe(theirs.plaintext);
    for (const h of ['ttl', 'urgency', 'topic', 'content-encoding'])
      expect(ours.headers[h]).toBe(theirs.headers[h]);
    expect(ours.vapid.k).toBe(theirs.vapid.k);
    expect(ours.vapid.claims['aud']).toBe(theirs.vapid.claims['aud']);
  });

  it('our ciphertext decrypts with http_ece too', async () => {
    const sub = wp.newSubscription();
    await provider().send(web(sub), base);
    const { ecdh, authSecret } = wp.userAgentKeys(sub.endpoint);
    const got = wp.received[0]!;
    const plain = ece.decrypt(got.body, {
      version: 'aes128gcm',
      privateKey: ecdh,
      authSecret: authSecret.toString('base64url'),
    });
    expect(plain.toString('utf8')).toBe(got.plaintext);
  });

  it('property: decrypt(encrypt(p)) = p for random payloads up to the limit (service decrypt and http_ece)', () => {
    const sub = wp.newSubscription();
    const keys = decodeSubscriptionKeys(sub.keys);
    const { ecdh, authSecret } = wp.userAgentKeys(sub.endpoint);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: MAX_PLAINTEXT_BYTES }), (bytes) => {
        const plaintext = Buffer.from(bytes);
        const body = encryptAes128gcm(plaintext, keys);
        expect(body.length).toBeLessThanOrEqual(4096);
        expect(decryptAes128gcm(body, ecdh, authSecret).equals(plaintext)).toBe(true);
        const viaEce = ece.decrypt(body, {
          version: 'aes128gcm',
          privateKey: ecdh,
          authSecret: authSecret.toString('base64url'),
        });
        expect(viaEce.equals(plaintext)).toBe(true);
      }),
      { numRuns: 150 },
    );
    expect(() => encryptAes128gcm(Buffer.alloc(MAX_PLAINTEXT_BYTES + 1), keys)).toThrow(RangeError);
  });
});

describe('Web Push: VAPID', () => {
  it('signs one JWT per push-service origin and reuses the whole header', async () => {
    const other = await startWebPushServer();
    try {
      const p = provider();
      const a = wp.newSubscription();
      const b = other.newSubscription();
      for (let i = 0; i < 3; i++) {
        expect((await p.send(web(a), base)).kind).toBe('delivered');
        expect((await p.send(web(b), base)).kind).toBe('delivered');
      }
      const jwtsA = new Set(wp.received.map((r) => r.vapid.jwt));
      const jwtsB = new Set(other.received.map((r) => r.vapid.jwt));
      expect(jwtsA.size).toBe(1);
      expect(jwtsB.size).toBe(1);
      expect([...jwtsA][0]).not.toBe([...jwtsB][0]);
      expect(other.received[0]!.vapid.claims['aud']).toBe(other.origin);
      expect(p.vapidSignatures).toBe(2);
    } finally {
      await other.close();
    }
  });

  it('prepares messages with one signature for any number of sends (CPU per message printed, not asserted)', () => {
    const p = provider();
    const sub = wp.newSubscription();
    const n = 2000;
    const bodies = new Set<string>();
    for (let i = 0; i < 200; i++) p.prepare(sub, base); // warm up before measuring
    const start = process.cpuUsage();
    let last: PreparedPush | PushOutcome | undefined;
    for (let i = 0; i < n; i++) {
      last = p.prepare(sub, { ...base, notificationId: `job:${i}` });
      if ('body' in last) bodies.add(last.body.subarray(0, 16).toString('hex'));
    }
    const cpu = process.cpuUsage(start);
    expect(p.vapidSignatures).toBe(1);
    expect(bodies.size).toBe(n); // a fresh salt (and key pair) per message
    const options = { vapidDetails: { subject: SUBJECT, ...vapid }, TTL: 60 };
    for (let i = 0; i < 50; i++) webpush.generateRequestDetails(sub, 'warm-up', options);
    const ref = process.cpuUsage();
    for (let i = 0; i < 500; i++)
      webpush.generateRequestDetails(sub, JSON.stringify({ ...base, notificationId: `job:${i}` }), options);
    const refCpu = process.cpuUsage(ref);
    console.log(
      `web push prepare: ${((cpu.user + cpu.system) / n).toFixed(0)} µs CPU/message (encrypt + cached VAPID); ` +
        `web-push generateRequestDetails: ${((refCpu.user + refCpu.system) / 500).toFixed(0)} µs`,
    );
  });

  it('a VAPID key that is not the subscription’s applicationServerKey → provider-error (403)', async () => {
    const sub = wp.newSubscription({ applicationServerKey: generateVapidKeys().publicKey });
    const outcome = await provider().send(web(sub), base);
    expect(outcome).toMatchObject({ kind: 'provider-error', status: 403 });
    expect(wp.received).toHaveLength(0);
  });

  it('refuses VAPID keys that do not match, or a subject that is not mailto:/https:', () => {
    const other = generateVapidKeys();
    expect(() =>
      provider({ vapid: { publicKey: vapid.publicKey, privateKey: other.privateKey, subject: SUBJECT } }),
    ).toThrow(/does not match/);
    expect(() => provider({ vapid: { ...vapid, subject: 'ops@backbeat.example' } })).toThrow(/subject/);
    // generateVapidKeys output is what web-push accepts too
    expect(() => webpush.setVapidDetails(SUBJECT, other.publicKey, other.privateKey)).not.toThrow();
  });
});

describe('Web Push: statuses → outcomes (push-providers.md §4.4)', () => {
  it.each<[number, PushOutcome['kind']]>([
    [404, 'invalid-token'],
    [410, 'invalid-token'],
    [429, 'retry'],
    [500, 'retry'],
    [503, 'retry'],
    [400, 'failed'],
    [413, 'failed'],
    [401, 'provider-error'],
    [403, 'provider-error'],
  ])('%i → %s', async (status, kind) => {
    const sub = wp.newSubscription();
    wp.setOutcome(sub.endpoint, status);
    expect(await provider().send(web(sub), base)).toMatchObject({ kind, status });
  });

  it('429 and 503 carry Retry-After (seconds or HTTP date)', async () => {
    const sub = wp.newSubscription();
    const p = provider();
    wp.setOutcome(sub.endpoint, { status: 429, retryAfter: '30' });
    expect(await p.send(web(sub), base)).toMatchObject({ kind: 'retry', status: 429, retryAfterMs: 30_000 });
    wp.setOutcome(sub.endpoint, { status: 503, retryAfter: new Date(Date.now() + 3_600_000).toUTCString() });
    const dated = await p.send(web(sub), base);
    expect(dated).toMatchObject({ kind: 'retry', status: 503 });
    expect(dated.kind === 'retry' && dated.retryAfterMs).toBeGreaterThan(3_000_000);
    wp.setOutcome(sub.endpoint, undefined);
    expect((await p.send(web(sub), base)).kind).toBe('delivered');
  });

  it('an unknown (expired) subscription on the real service path is invalid-token', async () => {
    const outcome = await provider().send(
      web({ ...wp.newSubscription(), endpoint: `${wp.origin}/push/gone` }),
      base,
    );
    expect(outcome).toMatchObject({ kind: 'invalid-token', status: 404 });
  });

  it('a payload over 3993 bytes fails locally, without a request', async () => {
    const sub = wp.newSubscription();
    const before = wp.statuses.length;
    const outcome = await provider().send(web(sub), { ...base, data: { blob: 'x'.repeat(4000) } });
    expect(outcome.kind).toBe('failed');
    expect(outcome.kind === 'failed' && outcome.reason).toMatch(/exceeds 3993/);
    expect(wp.statuses.length).toBe(before);
  });

  it('no answer → timeout → retry; nothing listening → retry; bad subscription keys → failed', async () => {
    const sub = wp.newSubscription();
    wp.setOutcome(sub.endpoint, 'hang');
    expect(await provider({ requestTimeoutMs: 300 }).send(web(sub), base)).toEqual({
      kind: 'retry',
      reason: 'timeout',
    });
    const down = await provider().send(web({ ...sub, endpoint: 'https://127.0.0.1:1/push/x' }), base);
    expect(down.kind).toBe('retry');
    const badKeys = await provider().send(
      web({ ...sub, keys: { p256dh: 'AAAA', auth: sub.keys.auth } }),
      base,
    );
    expect(badKeys.kind).toBe('failed');
    expect((await provider().send({ platform: 'android', token: 'x' }, base)).kind).toBe('failed');
  });
});

describe('the local Web Push service itself', () => {
  function post(
    url: string,
    headers: Record<string, string>,
    body: Buffer,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', headers, agent: false }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('requires TTL (400) and VAPID (401), checks aud (403), and refuses bodies over 4096 bytes (413)', async () => {
    const sub = wp.newSubscription();
    const p = provider();
    const ok = p.prepare(sub, base) as PreparedPush;
    const { ttl: _ttl, ...noTtl } = ok.headers;
    expect((await post(sub.endpoint, noTtl, ok.body)).status).toBe(400);
    const { authorization: _auth, ...noAuth } = ok.headers;
    expect((await post(sub.endpoint, noAuth, ok.body)).status).toBe(401);
    const foreign = provider().prepare(
      { ...sub, endpoint: 'https://push.example.net/x' },
      base,
    ) as PreparedPush;
    expect(
      (await post(sub.endpoint, { ...ok.headers, authorization: foreign.headers['authorization']! }, ok.body))
        .status,
    ).toBe(403);
    const big = Buffer.concat([ok.body, Buffer.alloc(4097 - ok.body.length)]);
    expect(
      (await post(sub.endpoint, { ...ok.headers, 'content-length': String(big.length) }, big)).status,
    ).toBe(413);
    const tampered = Buffer.from(ok.body);
    tampered[tampered.length - 1]! ^= 1;
    expect((await post(sub.endpoint, ok.headers, tampered)).status).toBe(400);
    expect((await post(sub.endpoint, ok.headers, ok.body)).status).toBe(201);
    expect(wp.received).toHaveLength(1);
  });
});
