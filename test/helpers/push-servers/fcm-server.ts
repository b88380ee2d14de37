/**
 * A protocol-true local FCM HTTP v1 service for tests (`shared/push-providers.md` §4.2,
 * §5.2): one TLS server speaking HTTP/2 and HTTP/1.1 that serves both Google's OAuth2
 * token endpoint (`POST /token`, JWT-bearer grant verified against a generated service
 * account) and `POST /v1/projects/:id/messages:send` (bearer check, validation of the
 * Message, Google's error JSON). Knobs script per-token errors, quota 429s, 503s, hangs
 * and GOAWAY. Needs `ensure_test_ca` (TEST_TLS_DIR) for its certificate.
 */
import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  constants,
  createSecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import {
  checkAssertion,
  fcmError,
  googleError,
  isRecord,
  serviceAccountJson,
  validateMessage,
  type FcmErrorCode,
  type Reply,
} from './fcm-wire.ts';

export type { FcmErrorCode } from './fcm-wire.ts';

/** What a scripted device token answers: an FCM error (with an optional `retry-after`) or no answer. */
export type FcmTokenOutcome = FcmErrorCode | 'hang' | { code: FcmErrorCode; retryAfter?: string };

export interface FcmRecordedRequest {
  httpVersion: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  status: number;
}

export interface FcmServer {
  url: string;
  tokenUrl: string;
  projectId: string;
  /** Google-shaped service-account JSON with a fresh RSA key, token_uri = tokenUrl. */
  serviceAccount: Record<string, string>;
  /** Every messages:send request, answered or hung (status 0 while hung). */
  requests: FcmRecordedRequest[];
  /** Accepted `message` objects, in arrival order. */
  messages: Array<Record<string, unknown>>;
  tokenRequests: number;
  /** Highest number of messages:send requests in flight at once. */
  readonly peakConcurrent: number;
  setTokenOutcome(deviceToken: string, outcome: FcmTokenOutcome | undefined): void;
  /** Invalidates every access token issued so far (as an early expiry or revocation would). */
  expireAccessTokens(): void;
  /** Deletes the service account's key: token requests get `invalid_grant`, issued tokens die. */
  revokeServiceAccount(): void;
  /** The next `n` sends get 429 RESOURCE_EXHAUSTED with `retry-after: retryAfterSeconds`. */
  quota429(retryAfterSeconds: number, n: number): void;
  /** The next `n` sends get 503 UNAVAILABLE (with `retry-after` when given). */
  unavailable503(n: number, retryAfter?: string): void;
  /** The next `n` sends are never answered (until close). */
  hang(n: number): void;
  /** Announces a new SETTINGS_MAX_CONCURRENT_STREAMS on every open HTTP/2 session. */
  setMaxConcurrentStreams(n: number): void;
  /** Sends GOAWAY on every open HTTP/2 session. */
  goaway(): void;
  close(): Promise<void>;
}

export interface FcmServerOptions {
  maxConcurrentStreams?: number;
  accessTokenTtlSeconds?: number;
  projectId?: string;
  /** The server's notion of now (ms), for assertion and access-token times; default Date.now. */
  now?: () => number;
}

export async function startFcmServer(opts: FcmServerOptions = {}): Promise<FcmServer> {
  const dir = process.env['TEST_TLS_DIR'];
  if (!dir) throw new Error('TEST_TLS_DIR is not set: run under scripts/lib/ensure.sh ensure_test_ca');
  const projectId = opts.projectId ?? 'backbeat-test';
  const ttlSeconds = opts.accessTokenTtlSeconds ?? 3599;
  const clock = opts.now ?? Date.now;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let accountKey: KeyObject | undefined = createPublicKey(privateKey);
  const accessTokens = new Map<string, number>();
  const scripted = new Map<string, FcmTokenOutcome>();
  const sessions = new Set<Http2Session>();
  const sockets = new Set<Socket>();
  let quota = { n: 0, retryAfter: '60' };
  let unavailable = { n: 0, retryAfter: undefined as string | undefined };
  const hangs = { n: 0 };
  const take = (knob: { n: number }): boolean => knob.n > 0 && knob.n-- > 0;
  let inFlight = 0;
  let peak = 0;

  const server = createSecureServer({
    key: readFileSync(join(dir, 'server-key.pem')),
    cert: readFileSync(join(dir, 'server.pem')),
    allowHTTP1: true,
    settings: { maxConcurrentStreams: opts.maxConcurrentStreams ?? 100 },
  });
  // GOAWAY names the last stream this server took; streams above it are refused, never
  // processed (RFC 9113 §6.8), so a client may resend them without duplicates.
  const lastStream = new WeakMap<Http2Session, number>();
  const goneAway = new WeakMap<Http2Session, number>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('stream', (stream: ServerHttp2Stream) =>
      lastStream.set(s, Math.max(lastStream.get(s) ?? 0, stream.id ?? 0)),
    );
  });
  server.on('secureConnection', (sock: Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });

  const send = (res: Http2ServerResponse, reply: Reply): void => {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(reply.http, { 'content-type': 'application/json; charset=UTF-8', ...reply.headers });
    res.end(JSON.stringify(reply.body));
  };

  const token = (form: URLSearchParams): Reply => {
    fcm.tokenRequests++;
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      return {
        http: 400,
        body: { error: 'unsupported_grant_type', error_description: 'Invalid grant_type.' },
      };
    }
    const why = accountKey
      ? checkAssertion(
          form.get('assertion') ?? '',
          accountKey,
          fcm.serviceAccount['client_email']!,
          fcm.tokenUrl,
          clock(),
        )
      : 'Invalid JWT Signature.';
    if (why !== undefined) return { http: 400, body: { error: 'invalid_grant', error_description: why } };
    const access = `ya29.${randomBytes(24).toString('base64url')}`;
    accessTokens.set(access, clock() + ttlSeconds * 1000);
    return { http: 200, body: { access_token: access, expires_in: ttlSeconds, token_type: 'Bearer' } };
  };

  const messagesSend = (req: Http2ServerRequest, raw: Buffer, record: FcmRecordedRequest): Reply | 'hang' => {
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const expiry = bearer === undefined ? undefined : accessTokens.get(bearer);
    if (expiry === undefined || expiry <= clock()) {
      return googleError(
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
      );
    }
    const project = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(req.url)?.[1];
    if (project !== projectId) return fcmError('PERMISSION_DENIED');
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    record.body = body;
    if (take(quota)) return fcmError('QUOTA_EXCEEDED', quota.retryAfter);
    if (take(unavailable)) return fcmError('UNAVAILABLE', unavailable.retryAfter);
    if (take(hangs)) return 'hang';
    const message = isRecord(body) ? body['message'] : undefined;
    const invalid = validateMessage(message);
    if (invalid) return invalid;
    const m = message as Record<string, unknown>;
    const script = typeof m['token'] === 'string' ? scripted.get(m['token']) : undefined;
    if (script === 'hang') return 'hang';
    if (script !== undefined)
      return typeof script === 'string' ? fcmError(script) : fcmError(script.code, script.retryAfter);
    if (isRecord(body) && body['validate_only'] !== true) fcm.messages.push(m);
    return {
      http: 200,
      body: { name: `projects/${projectId}/messages/0:${Date.now()}%${randomBytes(8).toString('hex')}` },
    };
  };

  server.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
    const { stream } = req as Partial<Http2ServerRequest>; // undefined on HTTP/1.1
    const last = stream?.session ? goneAway.get(stream.session) : undefined;
    if (stream && last !== undefined && (stream.id ?? 0) > last)
      return void stream.close(constants.NGHTTP2_REFUSED_STREAM);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      if (req.method === 'POST' && req.url === '/token')
        return send(res, token(new URLSearchParams(raw.toString('utf8'))));
      if (!/^\/v1\/projects\/[^/]+\/messages:send$/.test(req.url))
        return send(res, googleError(404, 'NOT_FOUND', 'Not Found'));
      if (req.method !== 'POST')
        return send(res, googleError(405, 'METHOD_NOT_ALLOWED', 'Method Not Allowed'));
      inFlight++;
      peak = Math.max(peak, inFlight);
      res.on('close', () => inFlight--);
      const record: FcmRecordedRequest = {
        httpVersion: req.httpVersion,
        path: req.url,
        headers: req.headers,
        body: undefined,
        status: 0,
      };
      fcm.requests.push(record);
      const reply = messagesSend(req, raw, record);
      if (reply === 'hang') return; // never answered; close() cuts the connection
      record.status = reply.http;
      send(res, reply);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fcm: FcmServer = {
    url,
    tokenUrl: `${url}/token`,
    projectId,
    serviceAccount: serviceAccountJson(
      projectId,
      privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      `${url}/token`,
    ),
    requests: [],
    messages: [],
    tokenRequests: 0,
    get peakConcurrent() {
      return peak;
    },
    setTokenOutcome: (t, outcome) =>
      void (outcome === undefined ? scripted.delete(t) : scripted.set(t, outcome)),
    expireAccessTokens: () => accessTokens.clear(),
    revokeServiceAccount: () => {
      accountKey = undefined;
      accessTokens.clear();
    },
    quota429: (retryAfterSeconds, n) => void (quota = { n, retryAfter: String(retryAfterSeconds) }),
    unavailable503: (n, retryAfter) => void (unavailable = { n, retryAfter }),
    hang: (n) => void (hangs.n = n),
    setMaxConcurrentStreams: (n) => {
      for (const s of sessions) s.settings({ maxConcurrentStreams: n });
    },
    goaway: () => {
      for (const s of sessions) {
        const last = lastStream.get(s) ?? 0;
        goneAway.set(s, last);
        s.goaway(constants.NGHTTP2_NO_ERROR, last);
      }
    },
    async close() {
      for (const s of sessions) s.destroy();
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fcm;
}
