/**
 * A protocol-true local APNs provider API for tests (`shared/push-providers.md` §4.1,
 * §5.2): HTTP/2 over TLS (the `ensure_test_ca` certificate), token auth with ES256 JWTs
 * verified by jose against registered keys (an oracle independent of the client's
 * node:crypto signer), Apple's validation order as Pushy's mock server does it, Apple's
 * JSON `{"reason"}` answers with `apns-id`, and Apple's stream behaviour: one stream until
 * a valid token, then `maxConcurrentStreams`, optionally back to 1 after a rejection.
 *
 * Knobs: scripted outcomes per device token (any status/reason, `Retry-After`, or
 * 'hang'), expired (410) tokens, tokens bound to another topic, GOAWAY after N streams
 * per connection, the stream limit, artificial latency, and a clock for token ages.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  constants,
  createSecureServer,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  authenticate,
  generateKey,
  Reject,
  type ApnsServerKey,
  type ConnectionAuth,
} from './apns-server-auth.ts';

export { generateKey, type ApnsServerKey } from './apns-server-auth.ts';

/** A scripted answer for one device token: status + Apple reason (+ Retry-After), or never answering. */
export type ScriptedOutcome = { status: number; reason?: string; retryAfter?: string } | 'hang';

export interface RecordedNotification {
  token: string;
  headers: Record<string, string>;
  payload: Record<string, unknown>;
  apnsId: string;
  jwt: string;
  /** 1-based connection number, and the stream id on it. */
  session: number;
  streamId: number;
  /** Streams received and not yet answered on the connection when this one arrived (itself included), and the limit announced then. */
  activeAtArrival: number;
  limitAtArrival: number;
}

export interface Rejection {
  token: string | undefined;
  status: number;
  reason: string;
  session: number;
}

export interface ApnsServerOptions {
  /** Keys to accept; default one generated key for team `TEAM000001`, topic `topic`. */
  keys?: Array<{ keyId: string; teamId: string; topics?: string[] }>;
  topic?: string;
  /** Announced after a connection's first successful push (default 500, as Apple observed). */
  maxConcurrentStreams?: number;
  /** Announced when a connection opens (default 1: Apple's one stream until a valid token). */
  initialMaxConcurrentStreams?: number;
  latencyMs?: number;
  /** Time for token ages, 410 timestamps and the 20-minute rule (default Date.now). */
  now?: () => number;
  /** Certificate and key; default TEST_TLS_DIR's server.pem / server-key.pem. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

interface SessionInfo extends ConnectionAuth {
  id: number;
  /** A request with a valid token succeeded: the full stream limit is announced. */
  opened: boolean;
  processed: number;
  lastProcessedId: number;
  goawayLastId: number | undefined;
  active: number;
  limit: number;
  dropped: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PUSH_TYPES = new Set([
  'alert',
  'background',
  'location',
  'voip',
  'complication',
  'fileprovider',
  'mdm',
  'liveactivity',
  'pushtotalk',
]);
const MAX_BODY = 4096;

export class ApnsTestServer {
  readonly url: string;
  readonly topic: string;
  readonly keys: ApnsServerKey[];
  /** Accepted notifications (answered 200), in the order they were answered. */
  readonly requests: RecordedNotification[] = [];
  readonly rejections: Rejection[] = [];
  /** Distinct provider tokens accepted, in first-seen order. */
  readonly jwts: string[] = [];
  latencyMs: number;
  sessions = 0;
  goaways = 0;
  /** Highest number of streams received and not yet answered at once on one connection. */
  maxActive = 0;

  readonly #server: ReturnType<typeof createSecureServer>;
  readonly #now: () => number;
  readonly #outcomes = new Map<string, ScriptedOutcome>();
  readonly #expired = new Map<string, number>();
  readonly #tokenTopics = new Map<string, string>();
  readonly #live = new Map<Http2Session, SessionInfo>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #finish = new WeakMap<ServerHttp2Stream, () => void>();
  #maxStreams: number;
  readonly #initialStreams: number;
  #goaway: { after: number; code: number; reason: string } | undefined;
  #dropToOne = false;

  constructor(
    server: ReturnType<typeof createSecureServer>,
    url: string,
    keys: ApnsServerKey[],
    opts: ApnsServerOptions,
  ) {
    this.#server = server;
    this.url = url;
    this.keys = keys;
    this.topic = opts.topic ?? 'com.backbeat.test';
    this.latencyMs = opts.latencyMs ?? 0;
    this.#now = opts.now ?? Date.now;
    this.#maxStreams = opts.maxConcurrentStreams ?? 500;
    this.#initialStreams = opts.initialMaxConcurrentStreams ?? 1;
    server.on('session', (session) => this.#onSession(session));
    server.on('stream', (stream, headers) => this.#onStream(stream, headers));
  }

  /** The first key: what a client needs (`key`, `keyId`, `teamId`). */
  get key(): ApnsServerKey {
    return this.keys[0]!;
  }

  setTokenOutcome(token: string, outcome: ScriptedOutcome | undefined): void {
    if (outcome === undefined) this.#outcomes.delete(token);
    else this.#outcomes.set(token, outcome);
  }

  /** The device token is no longer valid: 410 Unregistered with `timestamp` (ms). */
  expireToken(token: string, atMs = this.#now()): void {
    this.#expired.set(token, atMs);
  }

  /** The device token belongs to `topic`; pushes to it under another topic get DeviceTokenNotForTopic. */
  setTokenTopic(token: string, topic: string): void {
    this.#tokenTopics.set(token, topic);
  }

  /** Each connection processes `n` streams, then answers the next with GOAWAY (JSON reason) and ends. */
  goawayAfter(n: number | undefined, opts: { code?: number; reason?: string } = {}): void {
    this.#goaway =
      n === undefined
        ? undefined
        : { after: n, code: opts.code ?? constants.NGHTTP2_NO_ERROR, reason: opts.reason ?? 'Shutdown' };
  }

  /** Announces a new SETTINGS_MAX_CONCURRENT_STREAMS to every connection past its first success. */
  setMaxConcurrentStreams(n: number): void {
    this.#maxStreams = n;
    for (const [session, info] of this.#live)
      if (info.opened && !info.dropped) this.#announce(session, info, n);
  }

  /** Apple's observed behaviour: the limit drops to 1 after a rejected notification, back after a success. */
  dropToOneAfterReject(on: boolean): void {
    this.#dropToOne = on;
  }

  /** Cuts every connection (as a network failure would); streams in flight get no answer. */
  dropConnections(): void {
    for (const session of this.#live.keys()) session.destroy();
  }

  async close(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const session of this.#live.keys()) session.destroy();
    await closed;
  }

  #onSession(session: Http2Session): void {
    const info: SessionInfo = {
      id: ++this.sessions,
      opened: false,
      teamId: undefined,
      jwt: undefined,
      jwtSince: 0,
      processed: 0,
      lastProcessedId: 0,
      goawayLastId: undefined,
      active: 0,
      limit: this.#initialStreams,
      dropped: false,
    };
    this.#live.set(session, info);
    session.on('close', () => this.#live.delete(session));
    session.on('error', () => undefined);
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const session = stream.session;
    const info = session && this.#live.get(session);
    if (!session || !info) return void stream.close(constants.NGHTTP2_REFUSED_STREAM);
    stream.on('error', () => undefined);
    const streamId = stream.id ?? 0;
    if (info.goawayLastId !== undefined && streamId > info.goawayLastId)
      return void stream.close(constants.NGHTTP2_REFUSED_STREAM);
    if (this.#goaway && info.processed >= this.#goaway.after) {
      // RFC 9113 §6.8: streams above lastStreamId were not processed; the client may resend them.
      info.goawayLastId = info.lastProcessedId;
      this.goaways++;
      session.goaway(
        this.#goaway.code,
        info.lastProcessedId,
        Buffer.from(JSON.stringify({ reason: this.#goaway.reason })),
      );
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      // Close once that GOAWAY is on the wire: nghttp2 then caps the closing GOAWAY's last
      // stream id to it (a second GOAWAY with a higher id is a protocol error for the client).
      setImmediate(() => session.close());
      return;
    }
    info.processed++;
    info.lastProcessedId = streamId;
    // Active = received and not yet answered (Node reports a stream's close a little later).
    info.active++;
    this.maxActive = Math.max(this.maxActive, info.active);
    const arrival = { activeAtArrival: info.active, limitAtArrival: info.limit };
    let done = false;
    const finished = () => {
      if (!done) info.active--;
      done = true;
    };
    this.#finish.set(stream, finished);
    stream.on('close', finished);
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 2 * MAX_BODY) chunks.push(chunk);
    });
    stream.on('end', () => {
      this.#handle(session, info, stream, headers, Buffer.concat(chunks), size, arrival).catch(() => {
        if (!stream.closed) stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      });
    });
  }

  async #handle(
    session: Http2Session,
    info: SessionInfo,
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    body: Buffer,
    size: number,
    arrival: { activeAtArrival: number; limitAtArrival: number },
  ): Promise<void> {
    const apnsId = str(headers['apns-id']) ?? randomUUID();
    const path = str(headers[':path']) ?? '';
    const token = path.startsWith('/3/device/') ? safeDecode(path.slice('/3/device/'.length)) : undefined;
    let jwt = '';
    let payload: Record<string, unknown>;
    try {
      this.#validateHeaders(headers, path, token);
      const topic = str(headers['apns-topic'])!;
      if (token !== undefined && this.#expired.has(token)) {
        return this.#answer(
          session,
          info,
          stream,
          apnsId,
          410,
          { reason: 'Unregistered', timestamp: this.#expired.get(token) },
          token,
        );
      }
      const bound = token === undefined ? undefined : this.#tokenTopics.get(token);
      if (bound !== undefined && bound !== topic) throw new Reject(400, 'DeviceTokenNotForTopic');
      const auth = await authenticate(this.keys, info, str(headers.authorization), topic, this.#now());
      jwt = auth.jwt;
      if (auth.isNew && !this.jwts.includes(jwt)) this.jwts.push(jwt);
      payload = parsePayload(body, size);
    } catch (err) {
      if (!(err instanceof Reject)) throw err;
      return this.#answer(session, info, stream, apnsId, err.status, { reason: err.reason }, token);
    }
    const scripted = token === undefined ? undefined : this.#outcomes.get(token);
    if (scripted === 'hang') return; // never answered: the client's timeout (or close) ends it
    if (scripted) {
      const extra: Record<string, string> =
        scripted.retryAfter === undefined ? {} : { 'retry-after': scripted.retryAfter };
      const json =
        scripted.status === 410
          ? { reason: scripted.reason ?? 'Unregistered', timestamp: this.#now() }
          : { reason: scripted.reason ?? '' };
      return this.#answer(session, info, stream, apnsId, scripted.status, json, token, extra);
    }
    const recorded: RecordedNotification = {
      token: token!,
      headers: Object.fromEntries(
        Object.entries(headers)
          .filter(([k]) => k.startsWith('apns-') || k.startsWith(':'))
          .map(([k, v]) => [k, String(v)]),
      ),
      payload,
      apnsId,
      jwt,
      session: info.id,
      streamId: stream.id ?? 0,
      ...arrival,
    };
    this.#answer(session, info, stream, apnsId, 200, undefined, token, {}, recorded);
  }

  /** Pushy's order: apns-id, method, topic, collapse id, priority, push type, path and token, expiration. */
  #validateHeaders(headers: IncomingHttpHeaders, path: string, token: string | undefined): void {
    const apnsId = str(headers['apns-id']);
    if (apnsId !== undefined && !UUID.test(apnsId)) throw new Reject(400, 'BadMessageId');
    if (headers[':method'] !== 'POST') throw new Reject(405, 'MethodNotAllowed');
    if (!str(headers['apns-topic'])) throw new Reject(400, 'MissingTopic');
    const collapseId = str(headers['apns-collapse-id']);
    if (collapseId !== undefined && Buffer.byteLength(collapseId) > 64)
      throw new Reject(400, 'BadCollapseId');
    const priority = str(headers['apns-priority']);
    if (priority !== undefined && !['1', '5', '10'].includes(priority)) throw new Reject(400, 'BadPriority');
    const pushType = str(headers['apns-push-type']);
    if (pushType !== undefined && !PUSH_TYPES.has(pushType)) throw new Reject(400, 'InvalidPushType');
    if (token === undefined)
      throw new Reject(404, path.startsWith('/3/device') ? 'MissingDeviceToken' : 'BadPath');
    if (token === '') throw new Reject(400, 'MissingDeviceToken');
    if (!/^[0-9a-fA-F]+$/.test(token)) throw new Reject(400, 'BadDeviceToken');
    const expiration = str(headers['apns-expiration']);
    if (expiration !== undefined && !/^\d+$/.test(expiration)) throw new Reject(400, 'BadExpirationDate');
  }

  #answer(
    session: Http2Session,
    info: SessionInfo,
    stream: ServerHttp2Stream,
    apnsId: string,
    status: number,
    json: Record<string, unknown> | undefined,
    token: string | undefined,
    extra: Record<string, string> = {},
    recorded?: RecordedNotification,
  ): void {
    const send = () => {
      if (stream.closed || stream.destroyed) return;
      this.#finish.get(stream)?.();
      if (recorded) this.requests.push(recorded);
      else this.rejections.push({ token, status, reason: String(json?.reason ?? ''), session: info.id });
      stream.respond({
        ':status': status,
        'apns-id': apnsId,
        ...(json ? { 'content-type': 'application/json' } : {}),
        ...extra,
      });
      stream.end(json ? JSON.stringify(json) : undefined);
      if (status === 200 && (!info.opened || info.dropped)) {
        // Apple: one stream until a request with a valid token succeeds; back up after a success.
        info.opened = true;
        info.dropped = false;
        this.#announce(session, info, this.#maxStreams);
      } else if (status !== 200 && this.#dropToOne && info.opened && !info.dropped) {
        info.dropped = true;
        this.#announce(session, info, 1);
      }
    };
    if (this.latencyMs <= 0) return send();
    const t = setTimeout(() => {
      this.#timers.delete(t);
      send();
    }, this.latencyMs);
    this.#timers.add(t);
  }

  #announce(session: Http2Session, info: SessionInfo, limit: number): void {
    if (session.closed || session.destroyed) return;
    info.limit = limit;
    session.settings({ maxConcurrentStreams: limit });
  }
}

export async function startApnsServer(opts: ApnsServerOptions = {}): Promise<ApnsTestServer> {
  const topic = opts.topic ?? 'com.backbeat.test';
  const keys = (opts.keys ?? [{ keyId: 'KEY0000001', teamId: 'TEAM000001' }]).map((k) =>
    generateKey(k.keyId, k.teamId, k.topics ?? [topic]),
  );
  const server = createSecureServer({
    ...(opts.tls ?? testTls()),
    allowHTTP1: false,
    // Apple: one stream until a request with a valid provider token succeeds.
    settings: { maxConcurrentStreams: opts.initialMaxConcurrentStreams ?? 1 },
  });
  server.on('sessionError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return new ApnsTestServer(server, `https://127.0.0.1:${port}`, keys, opts);
}

function testTls(): { cert: Buffer; key: Buffer } {
  const dir = process.env.TEST_TLS_DIR;
  if (!dir)
    throw new Error(
      'TEST_TLS_DIR is not set: run `source scripts/lib/ensure.sh && ensure_test_ca` before vitest',
    );
  return { cert: readFileSync(join(dir, 'server.pem')), key: readFileSync(join(dir, 'server-key.pem')) };
}

function parsePayload(body: Buffer, size: number): Record<string, unknown> {
  if (size === 0) throw new Reject(400, 'PayloadEmpty');
  if (size > MAX_BODY) throw new Reject(413, 'PayloadTooLarge');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  // Apple documents no reason for a body that is not a JSON dictionary with `aps`; this one is ours.
  const aps = (parsed as { aps?: unknown } | undefined)?.aps;
  if (typeof parsed !== 'object' || parsed === null || typeof aps !== 'object' || aps === null)
    throw new Reject(400, 'BadPayload');
  return parsed as Record<string, unknown>;
}

/** A malformed %-escape stays as it is (and fails the hex check: BadDeviceToken). */
function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function str(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
