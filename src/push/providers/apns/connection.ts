/**
 * One logical APNs connection: an HTTP/2 session at a time (a new one after GOAWAY or
 * close), its own FIFO queue, and an in-flight limit that follows the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS (Apple allows one stream until a token is accepted,
 * then hundreds, and drops to 1 after a rejection — `shared/push-providers.md` §3, §4.1).
 * Node's http2 would otherwise queue streams above the limit silently, with their
 * timeouts running; here a request's timeout starts when its stream opens.
 *
 * Requests the server provably did not process (stream id above the GOAWAY's last
 * stream id, or RST_STREAM REFUSED_STREAM — RFC 9113 §6.8, §8.7) go out again on the
 * next session, up to `maxResends`; a stream cut after the server may have processed it
 * ends as `no-answer` (the caller reports `retry`), never as a silent resend.
 */
import {
  connect,
  constants,
  sensitiveHeaders,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type Settings,
} from 'node:http2';
import type { Logger } from '../../../core/observability/index.ts';
import { errorReason, isTlsError, type ApnsExchange } from './outcome.ts';
import type { ApnsRequest } from './request.ts';

export interface ConnectionHooks {
  /** A stream opened: streams in flight on its session (this one included) and the session's limit. */
  onStream?(info: { inFlight: number; limit: number }): void;
  /** A request the server did not process goes out again. */
  onResend?(reason: string): void;
  onSession?(event: 'open' | 'settings' | 'goaway' | 'close', detail?: string): void;
}

export interface ConnectionOptions {
  /** Origin, e.g. `https://api.push.apple.com`. */
  url: string;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** PING an idle session this often; a PING without answer ends the session. */
  pingIntervalMs: number;
  maxResends: number;
  /** Upper bound on streams per session whatever the peer announces. */
  maxStreamsCap: number;
  /** The provider token to send; read when each stream opens. */
  token: () => string;
  logger: Logger | undefined;
  hooks: ConnectionHooks;
}

export interface ConnectionResult {
  exchange: ApnsExchange;
  /** The provider token the answer refers to. */
  jwt: string | undefined;
}

interface Pending {
  req: ApnsRequest;
  signal: AbortSignal | undefined;
  resends: number;
  resolve: (r: ConnectionResult) => void;
  settled: boolean;
  jwt: string | undefined;
  onAbort: (() => void) | undefined;
}

interface SessionState {
  session: ClientHttp2Session;
  /** Until the peer's first SETTINGS arrives nothing is sent. */
  ready: boolean;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (capped). */
  limit: number;
  /** APNs accepted our provider token on this session; until then one stream at a time. */
  proven: boolean;
  inFlight: number;
  goawayLastStreamId: number | undefined;
  error: unknown;
  timers: NodeJS.Timeout[];
}

export class ApnsConnection {
  readonly #opts: ConnectionOptions;
  readonly #queue = new Deque<Pending>();
  readonly #sessions = new Set<SessionState>();
  #current: SessionState | undefined;
  #closing = false;

  constructor(opts: ConnectionOptions) {
    this.#opts = opts;
  }

  /** Requests queued or in flight: how the provider spreads work over connections. */
  get load(): number {
    let n = this.#queue.length;
    for (const s of this.#sessions) n += s.inFlight;
    return n;
  }

  stats(): { limit: number; inFlight: number; queued: number; sessions: number } {
    return {
      limit: this.#current ? streamLimit(this.#current) : 0,
      inFlight: this.#current?.inFlight ?? 0,
      queued: this.#queue.length,
      sessions: this.#sessions.size,
    };
  }

  send(req: ApnsRequest, signal: AbortSignal | undefined): Promise<ConnectionResult> {
    return new Promise((resolve) => {
      const item: Pending = {
        req,
        signal,
        resends: 0,
        resolve,
        settled: false,
        jwt: undefined,
        onAbort: undefined,
      };
      if (this.#closing) return this.#settle(item, { kind: 'no-answer', reason: 'Closed' });
      if (signal?.aborted) return this.#settle(item, { kind: 'no-answer', reason: 'Aborted' });
      if (signal) {
        item.onAbort = () => {
          if (this.#queue.remove(item)) this.#settle(item, { kind: 'no-answer', reason: 'Aborted' });
        };
        signal.addEventListener('abort', item.onAbort, { once: true });
      }
      this.#queue.push(item);
      this.#pump();
    });
  }

  /**
   * Stops taking work, fails what is queued, lets in-flight streams finish (each has its
   * timeout), then ends every session. Sessions are closed only once idle: Node's
   * `close()` sends GOAWAY at once, ahead of request frames still queued for the wire,
   * and the server would refuse those.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#failQueue({ kind: 'no-answer', reason: 'Closed' });
    this.#current = undefined;
    await Promise.all(
      [...this.#sessions].map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.session.closed || s.session.destroyed) return resolve();
            s.session.once('close', () => resolve());
            if (s.inFlight === 0) s.session.close();
          }),
      ),
    );
  }

  #pump(): void {
    if (this.#closing || this.#queue.length === 0) return;
    const s = this.#current ?? this.#open();
    if (!s.ready) return;
    while (this.#current === s && s.inFlight < streamLimit(s)) {
      const item = this.#queue.shift();
      if (!item) break;
      this.#dispatch(s, item);
    }
  }

  #open(): SessionState {
    const session = connect(this.#opts.url, { settings: { enablePush: false } });
    const s: SessionState = {
      session,
      ready: false,
      limit: 0,
      proven: false,
      inFlight: 0,
      goawayLastStreamId: undefined,
      error: undefined,
      timers: [],
    };
    this.#current = s;
    this.#sessions.add(s);
    this.#opts.hooks.onSession?.('open');
    const connectTimer = setTimeout(() => {
      if (!s.ready)
        session.destroy(Object.assign(new Error('APNs connection timed out'), { code: 'ConnectTimeout' }));
    }, this.#opts.connectTimeoutMs);
    s.timers.push(connectTimer);
    const ping = setInterval(() => {
      if (s.ready && s.inFlight === 0 && !session.closed && !session.destroyed) {
        session.ping((err) => {
          if (err && !session.destroyed) session.destroy(err);
        });
      }
    }, this.#opts.pingIntervalMs);
    ping.unref();
    s.timers.push(ping);

    session.on('remoteSettings', (settings: Settings) => {
      const announced = settings.maxConcurrentStreams ?? this.#opts.maxStreamsCap;
      s.limit = Math.min(announced, this.#opts.maxStreamsCap);
      if (!s.ready) clearTimeout(connectTimer);
      s.ready = true;
      this.#opts.hooks.onSession?.('settings', `maxConcurrentStreams=${s.limit}`);
      this.#pump();
    });
    session.on('goaway', (code: number, lastStreamId: number, data?: Buffer) => {
      s.goawayLastStreamId = lastStreamId;
      const reason = goawayReason(data);
      this.#opts.logger?.info({ code, lastStreamId, reason }, 'APNs sent GOAWAY; opening a new connection');
      this.#opts.hooks.onSession?.('goaway', reason ?? `code ${code}`);
      this.#retire(s);
      this.#pump();
    });
    session.on('error', (err) => {
      s.error = err;
      this.#opts.logger?.warn({ err: errorReason(err) }, 'APNs connection error');
    });
    session.on('close', () => {
      for (const t of s.timers) clearTimeout(t);
      this.#sessions.delete(s);
      this.#retire(s);
      this.#opts.hooks.onSession?.('close', s.error === undefined ? undefined : errorReason(s.error));
      if (!s.ready) {
        // Never got usable: fail what waits rather than reconnect in a loop; the caller retries later.
        const reason = s.error === undefined ? 'ConnectionClosed' : errorReason(s.error);
        this.#failQueue({ kind: 'no-answer', reason, tls: isTlsError(s.error) });
      }
      this.#pump();
    });
    return s;
  }

  #dispatch(s: SessionState, item: Pending): void {
    if (item.settled) return;
    if (item.signal?.aborted) return this.#settle(item, { kind: 'no-answer', reason: 'Aborted' });
    const jwt = this.#opts.token();
    item.jwt = jwt;
    let stream: ClientHttp2Stream;
    try {
      stream = s.session.request(
        {
          ':method': 'POST',
          ':path': item.req.path,
          authorization: `bearer ${jwt}`,
          ...item.req.headers,
          // Apple: HPACK literals without indexing for these (unique per request / secret).
          [sensitiveHeaders]: [':path', 'authorization'],
        },
        { endStream: false },
      );
    } catch (err) {
      // The session cannot take streams any more (closing, out of ids): nothing was sent.
      this.#retire(s);
      if (!s.session.destroyed) s.session.close();
      this.#resend(item, errorReason(err));
      return;
    }
    s.inFlight++;
    this.#opts.hooks.onStream?.({ inFlight: s.inFlight, limit: streamLimit(s) });

    let status: number | undefined;
    let apnsId: string | undefined;
    let retryAfter: string | undefined;
    let ended = false;
    let streamError: unknown;
    const chunks: Buffer[] = [];
    const cancel = (reason: string) => {
      this.#settle(item, { kind: 'no-answer', reason });
      if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
    };
    const timer = setTimeout(() => cancel('Timeout'), this.#opts.requestTimeoutMs);
    const onAbort = () => cancel('Aborted');
    item.signal?.addEventListener('abort', onAbort, { once: true });

    stream.on('response', (headers) => {
      status = Number(headers[':status']);
      apnsId = header(headers['apns-id']);
      retryAfter = header(headers['retry-after']);
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      ended = true;
    });
    stream.on('error', (err: Error) => {
      streamError = err;
    });
    stream.on('close', () => {
      s.inFlight--;
      clearTimeout(timer);
      item.signal?.removeEventListener('abort', onAbort);
      if (status !== undefined && ended) {
        if (status !== 403) s.proven = true; // any answer but 403 means the token passed
        this.#settle(item, answer(status, apnsId, retryAfter, Buffer.concat(chunks)));
      } else if (!item.settled && this.#unprocessed(s, stream)) {
        this.#resend(item, stream.rstCode === constants.NGHTTP2_REFUSED_STREAM ? 'RefusedStream' : 'GoAway');
      } else {
        const err = streamError ?? s.error;
        const reason = err === undefined ? `StreamClosed(${stream.rstCode ?? '?'})` : errorReason(err);
        this.#settle(item, { kind: 'no-answer', reason, tls: isTlsError(err) });
      }
      if (this.#closing && s.inFlight === 0 && !s.session.closed) s.session.close();
      this.#pump();
    });
    stream.end(item.req.body);
  }

  /** The server did not (and will not) process this stream, so sending it again cannot duplicate it. */
  #unprocessed(s: SessionState, stream: ClientHttp2Stream): boolean {
    if (stream.rstCode === constants.NGHTTP2_REFUSED_STREAM) return true;
    if (s.goawayLastStreamId === undefined) return false;
    return stream.id === undefined || stream.id > s.goawayLastStreamId;
  }

  #resend(item: Pending, reason: string): void {
    if (item.settled) return;
    if (this.#closing || item.resends >= this.#opts.maxResends) {
      return this.#settle(item, { kind: 'no-answer', reason });
    }
    item.resends++;
    this.#opts.hooks.onResend?.(reason);
    this.#queue.unshift(item);
  }

  /** Takes a session out of use for new streams; its in-flight streams finish on it. */
  #retire(s: SessionState): void {
    if (this.#current === s) this.#current = undefined;
  }

  #failQueue(exchange: ApnsExchange): void {
    for (let item = this.#queue.shift(); item; item = this.#queue.shift()) this.#settle(item, exchange);
  }

  #settle(item: Pending, exchange: ApnsExchange): void {
    if (item.settled) return;
    item.settled = true;
    if (item.onAbort) item.signal?.removeEventListener('abort', item.onAbort);
    item.resolve({ exchange, jwt: item.jwt });
  }
}

function answer(
  status: number,
  apnsId: string | undefined,
  retryAfter: string | undefined,
  body: Buffer,
): ApnsExchange {
  let reason: string | undefined;
  if (body.length > 0) {
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { reason?: unknown };
      if (typeof parsed.reason === 'string') reason = parsed.reason;
    } catch {
      // Not Apple's JSON: the status alone decides.
    }
  }
  const x: ApnsExchange = { kind: 'answer', status };
  if (reason !== undefined) x.reason = reason;
  if (apnsId !== undefined) x.apnsId = apnsId;
  if (retryAfter !== undefined) x.retryAfter = retryAfter;
  return x;
}

/**
 * Streams this session may carry now: the peer's limit, but one until APNs has accepted
 * our token on it ("with token auth APNs allows only one stream until a request with a
 * valid token succeeds"), whatever the first SETTINGS said.
 */
function streamLimit(s: SessionState): number {
  return s.proven ? s.limit : Math.min(1, s.limit);
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Apple's GOAWAY debug data is JSON `{"reason": …}`. */
function goawayReason(data: Buffer | undefined): string | undefined {
  if (!data || data.length === 0) return undefined;
  try {
    const parsed = JSON.parse(data.toString('utf8')) as { reason?: unknown };
    return typeof parsed.reason === 'string' ? parsed.reason : undefined;
  } catch {
    return data.toString('utf8').slice(0, 200);
  }
}

/** A FIFO with O(1) push/shift and cheap unshift (resends go first). */
class Deque<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  unshift(item: T): void {
    if (this.#head > 0) this.#items[--this.#head] = item;
    else this.#items.unshift(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  remove(item: T): boolean {
    const i = this.#items.indexOf(item, this.#head);
    if (i < 0) return false;
    this.#items.splice(i, 1);
    return true;
  }
}
