/**
 * One reused HTTP/2 session to one origin, with an in-flight limit that follows the
 * peer's SETTINGS_MAX_CONCURRENT_STREAMS (read on every acquire, so a peer that lowers it
 * is obeyed at once). Requests beyond the limit wait in FIFO order. A session that gets
 * GOAWAY, errors or closes is replaced by a new one on the next request; streams it had
 * not processed fail and their callers answer `retry`.
 */
import {
  connect,
  constants,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type Settings,
} from 'node:http2';

export interface H2Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface H2ClientOptions {
  /** Upper bound on streams in flight whatever the peer allows. */
  maxStreams?: number;
  /** How long `close()` lets in-flight streams finish before cutting them. */
  closeGraceMs?: number;
}

/** Thrown when a request did not get an answer (network, GOAWAY, timeout, abort). */
export class H2RequestError extends Error {
  readonly timeout: boolean;
  /** The request never left this process (safe to send again on another session). */
  readonly unsent: boolean;
  constructor(message: string, opts: { timeout?: boolean; unsent?: boolean } = {}) {
    super(message);
    this.name = 'H2RequestError';
    this.timeout = opts.timeout ?? false;
    this.unsent = opts.unsent ?? false;
  }
}

const MAX_RESPONSE_BYTES = 64 * 1024;

export class Http2Client {
  readonly #origin: string;
  readonly #maxStreams: number;
  readonly #closeGraceMs: number;
  #session: ClientHttp2Session | undefined;
  #connecting: Promise<ClientHttp2Session> | undefined;
  #active = 0;
  #peak = 0;
  /** The peer's last announced stream limit; 1 until a session has said it. */
  #peerLimit = 1;
  #waiters: Array<() => void> = [];
  #closed = false;
  #sessionsOpened = 0;

  constructor(origin: string, opts: H2ClientOptions = {}) {
    this.#origin = origin;
    this.#maxStreams = opts.maxStreams ?? 1000;
    this.#closeGraceMs = opts.closeGraceMs ?? 2000;
  }

  /** Streams currently open (for metrics and tests). */
  get inFlight(): number {
    return this.#active;
  }

  /** Most streams ever in flight at once (the limiter's invariant: never above `streamLimit`). */
  get peakInFlight(): number {
    return this.#peak;
  }

  /** The current in-flight limit: the peer's SETTINGS_MAX_CONCURRENT_STREAMS, capped. */
  get streamLimit(): number {
    return this.#limit();
  }

  /** Sessions opened so far: 1 + reconnects. */
  get sessionsOpened(): number {
    return this.#sessionsOpened;
  }

  async request(headers: OutgoingHttpHeaders, body: string, signal: AbortSignal): Promise<H2Response> {
    if (this.#closed) throw new H2RequestError('client closed');
    await this.#acquire(signal);
    try {
      try {
        return await this.#exchange(await this.#ready(signal), headers, body, signal);
      } catch (err) {
        // The session was going away as we wrote: nothing was sent, so try a fresh one once.
        if (!(err instanceof H2RequestError && err.unsent) || this.#closed) throw err;
        return await this.#exchange(await this.#ready(signal), headers, body, signal);
      }
    } finally {
      this.#release();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const wake of this.#waiters.splice(0)) wake();
    const session = this.#session ?? (await this.#connecting?.catch(() => undefined));
    this.#session = undefined;
    if (!session || session.destroyed) return;
    await new Promise<void>((resolve) => {
      const cut = setTimeout(() => session.destroy(), this.#closeGraceMs);
      session.close(() => {
        clearTimeout(cut);
        resolve();
      });
    });
  }

  /** Streams in flight across sessions (an old one winding down counts) stay under the peer's limit. */
  #limit(): number {
    return Math.max(1, Math.min(this.#maxStreams, this.#peerLimit));
  }

  #acquire(signal: AbortSignal): Promise<void> {
    if (this.#active < this.#limit() && this.#waiters.length === 0) {
      this.#take();
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        signal.removeEventListener('abort', onAbort);
        if (this.#closed) return reject(new H2RequestError('client closed'));
        this.#take();
        resolve();
      };
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(wake);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(abortError(signal));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(wake);
    });
  }

  #take(): void {
    this.#active++;
    if (this.#active > this.#peak) this.#peak = this.#active;
  }

  #release(): void {
    this.#active--;
    this.#drain();
  }

  #drain(): void {
    while (this.#waiters.length > 0 && this.#active < this.#limit()) this.#waiters.shift()!();
    if (this.#active === 0) this.#session?.unref();
  }

  /** The current session once its first SETTINGS arrived; opens one when there is none. */
  #ready(signal: AbortSignal): Promise<ClientHttp2Session> {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return Promise.resolve(current);
    this.#connecting ??= this.#open().finally(() => (this.#connecting = undefined));
    return raceAbort(this.#connecting, signal);
  }

  #open(): Promise<ClientHttp2Session> {
    return new Promise((resolve, reject) => {
      const session = connect(this.#origin, { settings: { enablePush: false } });
      this.#sessionsOpened++;
      const forget = (): void => {
        if (this.#session === session) this.#session = undefined;
      };
      session.on('error', (err: Error) => {
        forget();
        reject(new H2RequestError(`connection failed: ${err.message}`));
      });
      session.on('goaway', forget);
      session.on('close', () => {
        forget();
        reject(new H2RequestError('connection closed before SETTINGS'));
        this.#drain();
      });
      let first = true;
      session.on('remoteSettings', (settings: Settings) => {
        if (this.#closed) {
          session.destroy();
          return reject(new H2RequestError('client closed'));
        }
        if (settings.maxConcurrentStreams !== undefined) this.#peerLimit = settings.maxConcurrentStreams;
        if (first) {
          first = false;
          this.#session = session;
          resolve(session);
        }
        this.#drain(); // the peer's limit may have changed
      });
    });
  }

  #exchange(
    session: ClientHttp2Session,
    headers: OutgoingHttpHeaders,
    body: string,
    signal: AbortSignal,
  ): Promise<H2Response> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(abortError(signal));
      session.ref();
      let stream;
      try {
        stream = session.request(headers, { endStream: false });
      } catch (err) {
        if (this.#session === session) this.#session = undefined;
        return reject(new H2RequestError(`stream refused: ${(err as Error).message}`, { unsent: true }));
      }
      const onAbort = (): void => {
        stream.close(constants.NGHTTP2_CANCEL);
        reject(abortError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      let status = 0;
      let resHeaders: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('response', (h) => {
        status = Number(h[':status']);
        resHeaders = h;
      });
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
      });
      stream.on('error', (err: Error) => {
        if (stream.rstCode === constants.NGHTTP2_REFUSED_STREAM) return; // answered in 'close'
        reject(new H2RequestError(`stream error: ${err.message}`));
      });
      stream.on('close', () => {
        signal.removeEventListener('abort', onAbort);
        if (status === 0) {
          // REFUSED_STREAM (e.g. above a GOAWAY's last stream id): never processed, safe to resend.
          const unsent = stream.rstCode === constants.NGHTTP2_REFUSED_STREAM;
          return reject(
            new H2RequestError(`stream closed without an answer (code ${stream.rstCode})`, { unsent }),
          );
        }
        resolve({ status, headers: resHeaders, body: Buffer.concat(chunks).toString('utf8') });
      });
      stream.end(body);
    });
  }
}

function abortError(signal: AbortSignal): H2RequestError {
  const reason: unknown = signal.reason;
  const timeout = reason instanceof DOMException && reason.name === 'TimeoutError';
  return new H2RequestError(timeout ? 'request timed out' : 'request aborted', { timeout });
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
