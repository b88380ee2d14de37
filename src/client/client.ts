import { backoffDelay } from './backoff.ts';
import { Emitter } from './emitter.ts';
import { BackbeatClientError, DISCONNECTED, NO_RECONNECT_CODES, TIMEOUT } from './errors.ts';
import { Subscription, type SubscriptionHost } from './subscription.ts';
import type { TrackedPublication } from './tracker.ts';
import type { ClientInfo, ConnectedInfo, HistoryResult } from './types.ts';

export type ClientState = 'disconnected' | 'connecting' | 'connected' | 'closed';

export interface ClientOptions {
  /** A token, or a function that returns a fresh one (called on every connect and refresh). */
  token: string | (() => Promise<string>);
  /** First reconnect delay ceiling. @default 250 ms */
  minReconnectDelayMs?: number;
  /** Largest reconnect delay. @default 20000 ms */
  maxReconnectDelayMs?: number;
  /** Per-command timeout. @default 10000 ms */
  commandTimeoutMs?: number;
  /** Refresh the token this long before it expires (at least). @default 10000 ms */
  refreshBeforeMs?: number;
  /** WebSocket implementation (defaults to the global one: browsers, Node ≥ 22). */
  WebSocket?: typeof WebSocket;
  /** Random source for jitter (tests). */
  random?: () => number;
}

export interface ClientEvents extends Record<string, unknown> {
  state: ClientState;
  connected: ConnectedInfo;
  disconnected: { code: number; reason: string; reconnect: boolean };
  error: Error;
}

interface Pending {
  resolve: (r: Record<string, unknown>) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The backbeat.v1 client for browsers and Node. Connects with a token (or a token
 * callback), refreshes it before expiry, reconnects with exponential backoff and full
 * jitter, resumes its session and resubscribes with recovery so the app gets every
 * publication once and in order — or is told what it missed.
 */
export class BackbeatClient extends Emitter<ClientEvents> implements SubscriptionHost {
  readonly url: string;
  state: ClientState = 'disconnected';
  info: ConnectedInfo | undefined;
  readonly #o: Required<Omit<ClientOptions, 'WebSocket'>> & { WebSocket: typeof WebSocket };
  readonly #subs = new Map<string, Subscription>();
  readonly #pending = new Map<number, Pending>();
  #ws: WebSocket | undefined;
  #nextId = 1;
  #attempt = 0;
  #session: string | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #livenessTimer: ReturnType<typeof setInterval> | undefined;
  #lastReceived = 0;
  #waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];

  constructor(url: string, opts: ClientOptions) {
    super();
    this.url = url;
    const WS = opts.WebSocket ?? (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
    if (!WS) throw new Error('no WebSocket implementation: pass options.WebSocket');
    this.#o = {
      minReconnectDelayMs: 250,
      maxReconnectDelayMs: 20_000,
      commandTimeoutMs: 10_000,
      refreshBeforeMs: 10_000,
      random: Math.random,
      ...opts,
      WebSocket: WS,
    };
  }

  /** Connects (if not already) and resolves once connected; rejects if the server refuses for good. */
  connect(): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    const p = this.#whenConnected();
    if (this.state === 'disconnected' || this.state === 'closed') {
      this.state = 'disconnected';
      this.#open();
    }
    return p;
  }

  /** Closes for good: no reconnects; pending commands reject. */
  close(): void {
    this.#setState('closed');
    clearTimeout(this.#reconnectTimer);
    this.#stopTimers();
    this.#ws?.close(1000, 'client closed');
    this.#ws = undefined;
    this.#failPending(new BackbeatClientError(DISCONNECTED, 'client closed'));
    for (const w of this.#waiters.splice(0)) w.reject(new BackbeatClientError(DISCONNECTED, 'client closed'));
  }

  /** Subscribes now if connected, else on connect; the same Subscription survives reconnects. */
  subscribe(
    channel: string,
    opts: { presence?: boolean; since?: { offset: number; epoch: string } } = {},
  ): Subscription {
    const existing = this.#subs.get(channel);
    if (existing) return existing;
    const sub = new Subscription(this, channel, opts);
    this.#subs.set(channel, sub);
    if (this.state === 'connected') sub.subscribeOnServer(false).catch((err: unknown) => sub.fail(err));
    return sub;
  }

  getSubscription(channel: string): Subscription | undefined {
    return this.#subs.get(channel);
  }

  removeSubscription(channel: string): void {
    this.#subs.delete(channel);
  }

  async publish(channel: string, data: unknown): Promise<{ offset: number }> {
    const r = await this.command({ type: 'publish', channel, data });
    return { offset: r['offset'] as number };
  }

  async presence(channel: string): Promise<ClientInfo[]> {
    return (await this.command({ type: 'presence', channel }))['clients'] as ClientInfo[];
  }

  async history(
    channel: string,
    opts: { since?: { offset: number; epoch: string }; limit?: number } = {},
  ): Promise<HistoryResult> {
    const r = await this.command({ type: 'history', channel, ...opts });
    return {
      offset: r['offset'] as number,
      epoch: r['epoch'] as string,
      publications: r['publications'] as TrackedPublication[],
    };
  }

  async ping(): Promise<void> {
    await this.command({ type: 'ping' });
  }

  /**
   * Sends a command once connected and resolves with its reply; rejects with a
   * BackbeatClientError carrying the protocol code (or TIMEOUT / DISCONNECTED).
   */
  async command(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.state !== 'connected') {
      await withTimeout(
        this.#whenConnected(),
        this.#o.commandTimeoutMs,
        `${String(cmd['type'])}: not connected`,
      );
    }
    return this.#send(cmd);
  }

  // ---- connection ------------------------------------------------------------------

  #open(): void {
    if (this.state === 'closed') return;
    this.#setState('connecting');
    let ws: WebSocket;
    try {
      ws = new this.#o.WebSocket(this.url, 'backbeat.v1');
    } catch (err) {
      this.emit('error', err as Error);
      this.#scheduleReconnect();
      return;
    }
    this.#ws = ws;
    let disconnectPush: { code: number; reason: string; reconnect: boolean } | undefined;
    ws.onopen = () => void this.#handshake(ws);
    ws.onmessage = (ev: MessageEvent) => {
      this.#lastReceived = Date.now();
      let f: Record<string, unknown>;
      try {
        f = JSON.parse(String(ev.data)) as Record<string, unknown>;
      } catch {
        return;
      }
      if (f['type'] === 'disconnect') disconnectPush = f as typeof disconnectPush;
      else this.#onFrame(f);
    };
    ws.onerror = () => undefined;
    ws.onclose = (ev: CloseEvent) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      this.#stopTimers();
      this.#failPending(new BackbeatClientError(DISCONNECTED, 'connection closed'));
      for (const s of this.#subs.values()) s.suspend();
      const code = disconnectPush?.code ?? ev.code;
      const reason = disconnectPush?.reason ?? ev.reason;
      let reconnect = disconnectPush?.reconnect ?? !NO_RECONNECT_CODES.has(code);
      if (code === 4011 && typeof this.#o.token === 'string') reconnect = false; // a static token cannot be renewed
      if (this.state === 'closed') return;
      this.#setState('disconnected');
      this.emit('disconnected', { code, reason, reconnect });
      if (reconnect) this.#scheduleReconnect();
      else {
        const err = new BackbeatClientError(code, reason || 'disconnected');
        for (const w of this.#waiters.splice(0)) w.reject(err);
      }
    };
  }

  async #handshake(ws: WebSocket): Promise<void> {
    try {
      const token = typeof this.#o.token === 'string' ? this.#o.token : await this.#o.token();
      const cmd: Record<string, unknown> = { type: 'connect', token };
      if (this.#session) cmd['session'] = this.#session;
      const r = await this.#send(cmd, ws);
      const info = {
        client: r['client'],
        user: r['user'],
        node: r['node'],
        session: r['session'],
        ttl: r['ttl'],
        ping: r['ping'],
      } as ConnectedInfo;
      this.info = info;
      this.#session = info.session;
      this.#attempt = 0;
      this.#setState('connected');
      this.#scheduleRefresh(info.ttl);
      this.#startLiveness(info.ping);
      this.#restore(
        (r['subscriptions'] ?? {}) as Record<
          string,
          { offset: number; epoch: string; recovered: boolean; since: number }
        >,
      );
      this.emit('connected', info);
      for (const w of this.#waiters.splice(0)) w.resolve();
    } catch (err) {
      // The server closes after a failed connect; onclose decides about reconnecting.
      this.emit('error', err as Error);
    }
  }

  /** Resubscribes everything; channels restored by the session only need their gap checked. */
  #restore(
    restored: Record<string, { offset: number; epoch: string; recovered: boolean; since: number }>,
  ): void {
    for (const [channel, sub] of this.#subs) {
      const r = restored[channel];
      if (r) {
        const pos = sub.position;
        sub.applySubscribed(r.offset, r.epoch, r.recovered, [], true, pos !== undefined);
        // The server resumes from what it *sent*; anything sent but not received is fetched.
        if (pos && r.epoch === pos.epoch && pos.offset < r.since) void sub.tracker.fill(r.since);
      } else {
        sub.subscribeOnServer(true).catch((err: unknown) => sub.fail(err));
      }
    }
    // Restored channels the app no longer wants.
    for (const channel of Object.keys(restored)) {
      if (!this.#subs.has(channel)) void this.#send({ type: 'unsubscribe', channel }).catch(() => undefined);
    }
  }

  #scheduleReconnect(): void {
    if (this.state === 'closed') return;
    const delay = backoffDelay(
      this.#attempt++,
      { minDelayMs: this.#o.minReconnectDelayMs, maxDelayMs: this.#o.maxReconnectDelayMs },
      this.#o.random,
    );
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => this.#open(), delay);
  }

  #scheduleRefresh(ttlSeconds: number): void {
    clearTimeout(this.#refreshTimer);
    if (typeof this.#o.token === 'string') return;
    const ttlMs = ttlSeconds * 1000;
    const before = Math.max(this.#o.refreshBeforeMs, ttlMs * 0.1);
    const delay = Math.min(Math.max(0, ttlMs - before), 2 ** 31 - 1);
    this.#refreshTimer = setTimeout(() => void this.#refresh(), delay);
  }

  async #refresh(): Promise<void> {
    if (typeof this.#o.token === 'string' || this.state !== 'connected') return;
    try {
      const token = await this.#o.token();
      const r = await this.#send({ type: 'refresh', token });
      this.#scheduleRefresh(r['ttl'] as number);
    } catch (err) {
      this.emit('error', err as Error);
      // Try again shortly; if the token expires first the server closes 4011 and we reconnect.
      this.#refreshTimer = setTimeout(() => void this.#refresh(), 2000);
    }
  }

  /** If nothing arrived for a ping interval, ask; no answer within the command timeout → reconnect. */
  #startLiveness(pingSeconds: number): void {
    clearInterval(this.#livenessTimer);
    if (!pingSeconds) return;
    const every = pingSeconds * 1000;
    this.#livenessTimer = setInterval(() => {
      if (Date.now() - this.#lastReceived < every) return;
      this.#send({ type: 'ping' }).catch(() => {
        if (this.#ws) this.#ws.close(4000, 'liveness check failed');
      });
    }, every);
  }

  #stopTimers(): void {
    clearTimeout(this.#refreshTimer);
    clearInterval(this.#livenessTimer);
  }

  // ---- frames ----------------------------------------------------------------------

  #send(cmd: Record<string, unknown>, ws = this.#ws): Promise<Record<string, unknown>> {
    if (!ws || ws.readyState !== 1)
      return Promise.reject(new BackbeatClientError(DISCONNECTED, 'not connected'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new BackbeatClientError(
            TIMEOUT,
            `${String(cmd['type'])} timed out after ${this.#o.commandTimeoutMs} ms`,
          ),
        );
      }, this.#o.commandTimeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...cmd, id }));
    });
  }

  #onFrame(f: Record<string, unknown>): void {
    const id = f['id'];
    if (typeof id === 'number') {
      const p = this.#pending.get(id);
      if (!p) return;
      this.#pending.delete(id);
      clearTimeout(p.timer);
      if (f['type'] === 'error')
        p.reject(
          new BackbeatClientError(
            f['code'] as number,
            String(f['message']),
            f['retryAfterMs'] as number | undefined,
          ),
        );
      else p.resolve(f);
      return;
    }
    const sub = typeof f['channel'] === 'string' ? this.#subs.get(f['channel']) : undefined;
    if (f['type'] === 'message') sub?.handleMessage(f as unknown as TrackedPublication);
    else if (f['type'] === 'join' || f['type'] === 'leave')
      sub?.handlePresence(f['type'], f['info'] as ClientInfo);
    else if (f['type'] === 'error')
      this.emit('error', new BackbeatClientError(f['code'] as number, String(f['message'])));
  }

  #failPending(err: Error): void {
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.#pending.delete(id);
    }
  }

  #whenConnected(): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  #setState(s: ClientState): void {
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new BackbeatClientError(TIMEOUT, `${what} within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e as Error)),
    );
  });
}
