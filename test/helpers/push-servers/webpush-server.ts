/**
 * A protocol-true local Web Push service for tests (`shared/push-providers.md` §4.3,
 * §5.2): HTTPS (HTTP/1.1), subscriptions whose user-agent private key stays here, and
 * every message checked the way a push service does (RFC 8030 headers, RFC 8292 VAPID)
 * and then DECRYPTED (RFC 8291 / RFC 8188 aes128gcm, with this file's own code on
 * `hkdfSync`, independent of the client's), so tests assert on the plaintext received.
 * Needs `ensure_test_ca` (TEST_TLS_DIR) for its certificate.
 */
import {
  createDecipheriv,
  createECDH,
  createPublicKey,
  hkdfSync,
  randomBytes,
  randomUUID,
  verify,
  type ECDH,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface TestSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface ReceivedPush {
  endpoint: string;
  headers: IncomingHttpHeaders;
  /** The VAPID JWT (`t=`), its claims, and the key (`k=`). */
  vapid: { jwt: string; claims: Record<string, unknown>; k: string };
  /** The raw encrypted body, for a second decryption in tests. */
  body: Buffer;
  plaintext: string;
  /** `JSON.parse(plaintext)` (undefined if it is not JSON). */
  json: unknown;
}

/** A scripted answer for an endpoint: a status (with optional Retry-After) or no answer. */
export type WebPushOutcome = number | 'hang' | { status: number; retryAfter?: string };

export interface WebPushServer {
  origin: string;
  /** A new subscription; with `applicationServerKey` it accepts only that VAPID key (as PushManager.subscribe does). */
  newSubscription(opts?: { applicationServerKey?: string }): TestSubscription;
  /** The UA side of a subscription (private ECDH key and auth secret), for decrypting elsewhere. */
  userAgentKeys(endpoint: string): { ecdh: ECDH; authSecret: Buffer };
  received: ReceivedPush[];
  /** Every request's status, in order (0 while hung). */
  statuses: number[];
  setOutcome(endpoint: string, outcome: WebPushOutcome | undefined): void;
  close(): Promise<void>;
}

interface Sub {
  ecdh: ECDH;
  publicKey: Buffer;
  authSecret: Buffer;
  applicationServerKey: string | undefined;
}

const MAX_BODY = 4096;
const TOPIC_RE = /^[A-Za-z0-9_-]{1,32}$/;
const URGENCIES = ['very-low', 'low', 'normal', 'high'];

/** RFC 8291 §3.4 + RFC 8188 §2: decrypts a single-record aes128gcm Web Push body. Throws on anything malformed. */
export function decryptAes128gcm(body: Buffer, ua: ECDH, authSecret: Buffer): Buffer {
  if (body.length < 21) throw new Error('truncated header');
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  if (idlen !== 65) throw new Error(`keyid length ${idlen}, expected 65`);
  if (rs < 18) throw new Error(`record size ${rs} below 18`);
  const asPublic = body.subarray(21, 21 + idlen);
  const record = body.subarray(21 + idlen);
  if (record.length < 17) throw new Error('record too short');
  if (record.length > rs) throw new Error('more than one record');
  const uaPublic = ua.getPublicKey();
  const ecdhSecret = ua.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', ecdhSecret, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const padded = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 0 || padded[end] !== 2) throw new Error('last record must end with delimiter 0x02');
  return padded.subarray(0, end);
}

/** RFC 8292: checks `Authorization: vapid t=…, k=…`; returns [status, reason] on refusal. */
function checkVapid(
  header: string | undefined,
  origin: string,
  sub: Sub,
): ReceivedPush['vapid'] | [number, string] {
  const m = /^vapid t=([A-Za-z0-9_.-]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!m) return [401, 'missing VAPID authorization'];
  const [, jwt, k] = m as unknown as [string, string, string];
  const [h, c, s] = jwt.split('.');
  if (h === undefined || c === undefined || s === undefined) return [403, 'malformed JWT'];
  let claims: Record<string, unknown>;
  try {
    const head = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
    if (head['alg'] !== 'ES256' || head['typ'] !== 'JWT')
      return [403, 'JWT header must be {typ: JWT, alg: ES256}'];
    const raw = Buffer.from(k, 'base64url');
    if (raw.length !== 65 || raw[0] !== 4) return [403, 'k is not an uncompressed P-256 key'];
    const key = createPublicKey({
      format: 'jwk',
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: raw.subarray(1, 33).toString('base64url'),
        y: raw.subarray(33).toString('base64url'),
      },
    });
    const ok = verify(
      'sha256',
      Buffer.from(`${h}.${c}`),
      { key, dsaEncoding: 'ieee-p1363' },
      Buffer.from(s, 'base64url'),
    );
    if (!ok) return [403, 'bad JWT signature'];
    claims = JSON.parse(Buffer.from(c, 'base64url').toString()) as Record<string, unknown>;
  } catch (err) {
    return [403, `invalid JWT: ${(err as Error).message}`];
  }
  const now = Date.now() / 1000;
  const { aud, exp, sub: subject } = claims;
  if (aud !== origin) return [403, `aud ${String(aud)} is not ${origin}`];
  if (typeof exp !== 'number' || exp <= now || exp > now + 86_400)
    return [403, 'exp must be within 24 hours'];
  if (typeof subject !== 'string' || !/^(mailto:|https:)/.test(subject))
    return [403, 'sub must be mailto: or https:'];
  if (sub.applicationServerKey !== undefined && k !== sub.applicationServerKey) {
    return [403, 'k is not the applicationServerKey of this subscription'];
  }
  if (k === sub.publicKey.toString('base64url')) return [400, 'VAPID key equals the subscription key'];
  return { jwt, claims, k };
}

export async function startWebPushServer(): Promise<WebPushServer> {
  const dir = process.env['TEST_TLS_DIR'];
  if (!dir) throw new Error('TEST_TLS_DIR is not set: run under scripts/lib/ensure.sh ensure_test_ca');
  const subs = new Map<string, Sub>();
  const outcomes = new Map<string, WebPushOutcome>();
  const server = createServer({
    key: readFileSync(join(dir, 'server-key.pem')),
    cert: readFileSync(join(dir, 'server.pem')),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const received: ReceivedPush[] = [];
  const statuses: number[] = [];

  server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 64 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      const index = statuses.push(0) - 1;
      const answer = (status: number, reason = '', headers: Record<string, string> = {}): void => {
        statuses[index] = status;
        res.writeHead(status, reason ? { 'content-type': 'application/json', ...headers } : headers);
        res.end(reason ? JSON.stringify({ code: status, reason }) : undefined);
      };
      const endpoint = `${origin}${req.url ?? ''}`;
      const sub = subs.get(endpoint);
      if (!sub) return answer(404, 'no such subscription');
      if (req.method !== 'POST') return answer(405, 'method not allowed');
      const ttl = req.headers['ttl'];
      if (typeof ttl !== 'string' || !/^\d+$/.test(ttl)) return answer(400, 'TTL header required');
      const urgency = req.headers['urgency'];
      if (urgency !== undefined && !URGENCIES.includes(String(urgency))) return answer(400, 'bad Urgency');
      const topic = req.headers['topic'];
      if (topic !== undefined && !TOPIC_RE.test(String(topic))) return answer(400, 'bad Topic');
      const vapid = checkVapid(req.headers.authorization, origin, sub);
      if (Array.isArray(vapid)) return answer(vapid[0], vapid[1]);
      if (req.headers['content-encoding'] !== 'aes128gcm')
        return answer(400, 'Content-Encoding must be aes128gcm');
      const scripted = outcomes.get(endpoint);
      if (scripted === 'hang') return; // never answered; close() cuts the connection
      if (scripted !== undefined) {
        const { status, retryAfter } =
          typeof scripted === 'number' ? { status: scripted, retryAfter: undefined } : scripted;
        return answer(
          status,
          `scripted ${status}`,
          retryAfter === undefined ? {} : { 'retry-after': retryAfter },
        );
      }
      if (size > MAX_BODY) return answer(413, 'payload too large');
      const body = Buffer.concat(chunks);
      let plaintext: string;
      try {
        plaintext = decryptAes128gcm(body, sub.ecdh, sub.authSecret).toString('utf8');
      } catch (err) {
        return answer(400, `decryption failed: ${(err as Error).message}`);
      }
      let json: unknown;
      try {
        json = JSON.parse(plaintext);
      } catch {
        json = undefined;
      }
      received.push({ endpoint, headers: req.headers, vapid, body, plaintext, json });
      answer(201, '', { location: `${origin}/message/${randomUUID()}` });
    });
  });

  return {
    origin,
    received,
    statuses,
    newSubscription(opts = {}) {
      const ecdh = createECDH('prime256v1');
      const publicKey = ecdh.generateKeys();
      const authSecret = randomBytes(16);
      const endpoint = `${origin}/push/${randomBytes(12).toString('base64url')}`;
      subs.set(endpoint, { ecdh, publicKey, authSecret, applicationServerKey: opts.applicationServerKey });
      return {
        endpoint,
        keys: { p256dh: publicKey.toString('base64url'), auth: authSecret.toString('base64url') },
      };
    },
    userAgentKeys(endpoint) {
      const sub = subs.get(endpoint);
      if (!sub) throw new Error(`unknown subscription ${endpoint}`);
      return { ecdh: sub.ecdh, authSecret: sub.authSecret };
    },
    setOutcome: (endpoint, outcome) =>
      void (outcome === undefined ? outcomes.delete(endpoint) : outcomes.set(endpoint, outcome)),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
