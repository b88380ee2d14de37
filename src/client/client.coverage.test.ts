/**
 * BackbeatClient and Subscription against a scripted in-memory WebSocket: the paths a
 * real server rarely takes on cue (a constructor that throws, garbage frames, a token
 * that cannot be renewed, a refresh that fails, a silent connection, a restored session
 * with channels the app dropped), with fake timers so no test waits.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BackbeatClient } from './client.ts';
import { BackbeatClientError, DISCONNECTED, TIMEOUT } from './errors.ts';
import { Subscription, type SubscriptionHost } from './subscription.ts';

type Frame = Record<string, unknown>;

class FakeSocket {
  static instances: FakeSocket[] = [];
  static throwOnConstruct = false;
  readonly url: string;
  readonly protocol: string;
  readyState = 0;
  sent: Frame[] = [];
  closedWith: [number, string] | undefined;
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;

  constructor(url: string, protocol: string) {
    if (FakeSocket.throwOnConstruct) throw new Error('bad url');
    this.url = url;
    this.protocol = protocol;
    FakeSocket.instances.push(this);
  }
  send(text: string): void {
    this.sent.push(JSON.parse(text) as Frame);
  }
  close(code: number, reason: string): void {
    this.closedWith = [code, reason];
  }
  // ---- the server's side ----
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }
  frame(f: Frame | string): void {
    this.onmessage?.({ data: typeof f === 'string' ? f : JSON.stringify(f) });
  }
  reply(type: string, body: Frame = {}): void {
    const cmd = [...this.sent].reverse().find((c) => c['type'] === type);
    if (!cmd) throw new Error(`no ${type} command sent`);
    this.frame({ ...body, id: cmd['id'], type: body['type'] ?? type });
  }
  drop(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

const last = (): FakeSocket => FakeSocket.instances.at(-1)!;
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};
const connected = (over: Frame = {}): Frame => ({
  type: 'connected',
  client: 'c1',
  user: 'alice',
  node: 'n1',
  session: 's1',
  ttl: 3600,
  ping: 0,
  ...over,
});

function client(opts: Partial<ConstructorParameters<typeof BackbeatClient>[1]> = {}): BackbeatClient {
  return new BackbeatClient('ws://x/ws', {
    token: 't0',
    WebSocket: FakeSocket as unknown as typeof WebSocket,
    random: () => 0.5,
    commandTimeoutMs: 1_000,
    ...opts,
  });
}

async function connectNow(c: BackbeatClient, over: Frame = {}): Promise<FakeSocket> {
  const p = c.connect();
  const ws = last();
  ws.open();
  await flush();
  ws.reply('connect', connected(over));
  await p;
  return ws;
}

beforeEach(() => {
  vi.useFakeTimers();
  FakeSocket.instances = [];
  FakeSocket.throwOnConstruct = false;
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('BackbeatClient', () => {
  it('needs a WebSocket implementation', () => {
    vi.stubGlobal('WebSocket', undefined);
    expect(() => new BackbeatClient('ws://x/ws', { token: 't' })).toThrow(
      'no WebSocket implementation: pass options.WebSocket',
    );
  });

  it('connects with the backbeat.v1 subprotocol and a token from the callback; connect() again is a no-op', async () => {
    const c = client({ token: async () => 'fresh' });
    const ws = await connectNow(c);
    expect(ws.protocol).toBe('backbeat.v1');
    expect(ws.sent[0]).toEqual({ type: 'connect', token: 'fresh', id: 1 });
    expect(c.state).toBe('connected');
    expect(c.info).toEqual({ client: 'c1', user: 'alice', node: 'n1', session: 's1', ttl: 3600, ping: 0 });
    await c.connect();
    expect(FakeSocket.instances).toHaveLength(1);
    c.close();
  });

  it('a WebSocket constructor that throws is reported and retried with backoff', async () => {
    const errors: string[] = [];
    const c = client({ minReconnectDelayMs: 100 });
    c.on('error', (e) => errors.push(e.message));
    FakeSocket.throwOnConstruct = true;
    void c.connect().catch(() => undefined);
    expect(errors).toEqual(['bad url']);
    expect(FakeSocket.instances).toHaveLength(0);
    FakeSocket.throwOnConstruct = false;
    vi.advanceTimersByTime(50); // backoff(0) with random 0.5 → 50 ms
    expect(FakeSocket.instances).toHaveLength(1);
    c.close();
  });

  it('ignores frames that are not JSON and replies nobody waits for', async () => {
    const c = client();
    const ws = await connectNow(c);
    const errors: unknown[] = [];
    c.on('error', (e) => errors.push(e));
    ws.frame('not json {');
    ws.frame({ id: 999, type: 'pong' });
    expect(errors).toEqual([]);
    expect(c.state).toBe('connected');
    c.close();
  });

  it('rejects a command with the server error code and retryAfterMs; an error frame without id is emitted', async () => {
    const c = client();
    const ws = await connectNow(c);
    const p = c.publish('room:1', { a: 1 });
    ws.reply('publish', { type: 'error', code: 4029, message: 'slow down', retryAfterMs: 1500 });
    const err = (await p.catch((e: unknown) => e)) as BackbeatClientError;
    expect(err).toBeInstanceOf(BackbeatClientError);
    expect([err.code, err.message, err.retryAfterMs]).toEqual([4029, 'slow down', 1500]);

    const errors: BackbeatClientError[] = [];
    c.on('error', (e) => errors.push(e as BackbeatClientError));
    ws.frame({ type: 'error', code: 4400, message: 'bad frame' });
    expect(errors.map((e) => [e.code, e.message])).toEqual([[4400, 'bad frame']]);
    c.close();
  });

  it('a command without a reply times out with TIMEOUT and is forgotten', async () => {
    const c = client({ commandTimeoutMs: 1_000 });
    const ws = await connectNow(c);
    const p = c.ping().catch((e: unknown) => e);
    vi.advanceTimersByTime(1_000);
    const err = (await p) as BackbeatClientError;
    expect([err.code, err.message]).toEqual([TIMEOUT, 'ping timed out after 1000 ms']);
    ws.reply('ping', { type: 'pong' }); // too late: ignored
    c.close();
  });

  it('a command while disconnected waits for the connection, or times out', async () => {
    const c = client({ commandTimeoutMs: 1_000 });
    const err = (await Promise.all([
      c.presence('room:1').catch((e: unknown) => e),
      vi.advanceTimersByTimeAsync(1_000),
    ]).then(([e]) => e)) as BackbeatClientError;
    expect([err.code, err.message]).toEqual([TIMEOUT, 'presence: not connected within 1000 ms']);
  });

  it('a 4011 close with a static token does not reconnect: connect() rejects with the code', async () => {
    const c = client({ token: 'static' });
    const events: unknown[] = [];
    c.on('disconnected', (e) => events.push(e));
    await connectNow(c);
    const waiting = c.connect(); // already connected: resolves
    await waiting;
    const pending = c.command({ type: 'history', channel: 'x' }).catch((e: unknown) => e);
    last().drop(4011, 'token expired');
    expect(((await pending) as BackbeatClientError).code).toBe(DISCONNECTED);
    expect(events).toEqual([{ code: 4011, reason: 'token expired', reconnect: false }]);
    expect(c.state).toBe('disconnected');
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.instances).toHaveLength(1); // no reconnect

    // A later connect() that the server refuses for good rejects with its code.
    const p = c.connect().catch((e: unknown) => e);
    last().drop(4001);
    const err = (await p) as BackbeatClientError;
    expect([err.code, err.message]).toEqual([4001, 'disconnected']);
  });

  it('a disconnect push decides code, reason and reconnect over the close frame', async () => {
    const c = client({ minReconnectDelayMs: 100 });
    const events: unknown[] = [];
    c.on('disconnected', (e) => events.push(e));
    const ws = await connectNow(c);
    ws.frame({ type: 'disconnect', code: 4503, reason: 'draining', reconnect: true });
    ws.drop(1006);
    expect(events).toEqual([{ code: 4503, reason: 'draining', reconnect: true }]);
    vi.advanceTimersByTime(50);
    expect(FakeSocket.instances).toHaveLength(2);
    c.close();
  });

  it('a close after close() emits nothing and schedules nothing', async () => {
    const c = client();
    const events: unknown[] = [];
    c.on('disconnected', (e) => events.push(e));
    const ws = await connectNow(c);
    c.close();
    expect(ws.closedWith).toEqual([1000, 'client closed']);
    ws.drop(1000); // the socket is no longer the client's: ignored
    expect(events).toEqual([]);
    expect(c.state).toBe('closed');
  });

  it('refreshes a callback token before expiry; a failed refresh is reported and retried in 2 s', async () => {
    let n = 0;
    const tokens = vi.fn(async () => {
      n++;
      if (n === 3) throw new Error('token service down');
      return `t${n}`;
    });
    const c = client({ token: tokens, refreshBeforeMs: 10_000 });
    const errors: string[] = [];
    c.on('error', (e) => errors.push(e.message));
    const ws = await connectNow(c, { ttl: 60 });
    await vi.advanceTimersByTimeAsync(49_999); // ttl 60 s − max(10 s, 6 s)
    expect(ws.sent.filter((f) => f['type'] === 'refresh')).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(ws.sent.filter((f) => f['type'] === 'refresh').map((f) => f['token'])).toEqual(['t2']);
    ws.reply('refresh', { ttl: 20 });
    await flush();
    await vi.advanceTimersByTimeAsync(10_000); // ttl 20 s − 10 s
    expect(errors).toEqual(['token service down']);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(ws.sent.filter((f) => f['type'] === 'refresh').map((f) => f['token'])).toEqual(['t2', 't4']);
    c.close();
  });

  it('a static token is never refreshed', async () => {
    const c = client({ token: 'static' });
    const ws = await connectNow(c, { ttl: 30 });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(ws.sent.map((f) => f['type'])).toEqual(['connect']);
    c.close();
  });

  it('pings a silent connection each ping interval and closes it 4000 when the ping goes unanswered', async () => {
    const c = client({ commandTimeoutMs: 1_000 });
    const ws = await connectNow(c, { ping: 5 });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(ws.sent.filter((f) => f['type'] === 'ping')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ws.closedWith).toEqual([4000, 'liveness check failed']);
    c.close();
  });

  it('does not ping while frames keep arriving', async () => {
    const c = client();
    const ws = await connectNow(c, { ping: 5 });
    for (let i = 0; i < 4; i++) {
      await vi.advanceTimersByTimeAsync(2_500);
      ws.frame({ type: 'message', channel: 'nobody', offset: 1, data: 1 });
    }
    expect(ws.sent.filter((f) => f['type'] === 'ping')).toEqual([]);
    c.close();
  });

  it('subscriptions: one per channel, sent at once when connected; join/leave and messages reach them', async () => {
    const c = client();
    const ws = await connectNow(c);
    const sub = c.subscribe('room:1', { presence: true });
    expect(c.subscribe('room:1')).toBe(sub);
    expect(c.getSubscription('room:1')).toBe(sub);
    expect(ws.sent.at(-1)).toMatchObject({ type: 'subscribe', channel: 'room:1', presence: true });
    ws.reply('subscribe', { type: 'subscribed', offset: 0, epoch: 'e1', recovered: true, publications: [] });
    await flush();
    expect(sub.state).toBe('subscribed');

    const seen: unknown[] = [];
    sub.on('join', (i) => seen.push(['join', i]));
    sub.on('leave', (i) => seen.push(['leave', i]));
    sub.on('publication', (p) => seen.push(['pub', p.offset]));
    ws.frame({ type: 'join', channel: 'room:1', info: { user: 'bob' } });
    ws.frame({ type: 'message', channel: 'room:1', offset: 1, data: 'hi' });
    ws.frame({ type: 'leave', channel: 'room:1', info: { user: 'bob' } });
    ws.frame({ type: 'message', channel: 'room:2', offset: 1, data: 'elsewhere' });
    expect(seen).toEqual([
      ['join', { user: 'bob' }],
      ['pub', 1],
      ['leave', { user: 'bob' }],
    ]);

    const off = sub.unsubscribe();
    expect(c.getSubscription('room:1')).toBeUndefined();
    ws.reply('unsubscribe', { type: 'unsubscribed' });
    await off;
    ws.frame({ type: 'message', channel: 'room:1', offset: 2, data: 'after' });
    expect(seen).toHaveLength(3);
    c.close();
  });

  it('a failed subscribe is reported on the subscription', async () => {
    const c = client();
    const ws = await connectNow(c);
    const sub = c.subscribe('secret:1');
    const errors: string[] = [];
    sub.on('error', (e) => errors.push(e.message));
    ws.reply('subscribe', { type: 'error', code: 4003, message: 'forbidden' });
    await flush();
    expect(errors).toEqual(['forbidden']);
    c.close();
  });

  it('resumes its session: restored channels are checked for a gap, dropped ones unsubscribed, others resubscribed', async () => {
    const c = client({ minReconnectDelayMs: 100 });
    const ws1 = await connectNow(c);
    const kept = c.subscribe('room:kept');
    ws1.reply('subscribe', { type: 'subscribed', offset: 3, epoch: 'e1', recovered: true, publications: [] });
    await flush();
    const fresh = c.subscribe('room:fresh');
    ws1.drop(1006);
    expect(kept.state).toBe('subscribing');
    expect(fresh.state).toBe('subscribing');

    await vi.advanceTimersByTimeAsync(50);
    const ws2 = last();
    ws2.open();
    await flush();
    expect(ws2.sent[0]).toMatchObject({ type: 'connect', session: 's1' });
    ws2.reply(
      'connect',
      connected({
        subscriptions: {
          'room:kept': { offset: 5, epoch: 'e1', recovered: true, since: 5 },
          'room:dropped': { offset: 1, epoch: 'e1', recovered: true, since: 1 },
        },
      }),
    );
    await flush();
    // The kept channel was sent 4 and 5 before the drop, never received: fetched from history.
    expect(ws2.sent.map((f) => [f['type'], f['channel']])).toEqual([
      ['connect', undefined],
      ['history', 'room:kept'],
      ['subscribe', 'room:fresh'],
      ['unsubscribe', 'room:dropped'],
    ]);
    expect(ws2.sent[1]).toMatchObject({ since: { offset: 3, epoch: 'e1' } });
    const got: number[] = [];
    kept.on('publication', (p) => got.push(p.offset));
    ws2.reply('history', {
      type: 'history',
      offset: 5,
      epoch: 'e1',
      publications: [
        { offset: 4, data: 4 },
        { offset: 5, data: 5 },
      ],
    });
    await flush();
    expect(got).toEqual([4, 5]);
    expect(kept.position).toEqual({ offset: 5, epoch: 'e1' });
    c.close();
  });
});

describe('Subscription', () => {
  function host(over: Partial<SubscriptionHost> = {}): SubscriptionHost & { calls: unknown[] } {
    const calls: unknown[] = [];
    return {
      calls,
      command: async (cmd) => (calls.push(cmd), {}),
      history: async (channel, opts) => (
        calls.push(['history', channel, opts]),
        { offset: 0, epoch: 'e', publications: [] }
      ),
      presence: async (channel) => (calls.push(['presence', channel]), [{ user: 'bob' }]),
      publish: async (channel, data) => (calls.push(['publish', channel, data]), { offset: 1 }),
      removeSubscription: (channel) => void calls.push(['remove', channel]),
      ...over,
    };
  }

  it('delegates publish, presence and history to its client for its channel', async () => {
    const h = host();
    const s = new Subscription(h, 'room:1');
    expect(await s.publish({ a: 1 })).toEqual({ offset: 1 });
    expect(await s.presence()).toEqual([{ user: 'bob' }]);
    await s.history({ limit: 3 });
    expect(h.calls).toEqual([
      ['publish', 'room:1', { a: 1 }],
      ['presence', 'room:1'],
      ['history', 'room:1', { limit: 3 }],
    ]);
  });

  it('starts from `since` and resubscribes with recover from there', async () => {
    const h = host({
      command: async (cmd) => {
        h.calls.push(cmd);
        return {
          offset: 12,
          epoch: 'e9',
          recovered: true,
          publications: [
            { offset: 11, data: 'x' },
            { offset: 12, data: 'y' },
          ],
        };
      },
    });
    const s = new Subscription(h, 'room:1', { since: { offset: 10, epoch: 'e9' } });
    expect(s.position).toEqual({ offset: 10, epoch: 'e9' });
    const got: number[] = [];
    const subscribed: unknown[] = [];
    s.on('publication', (p) => got.push(p.offset));
    s.on('subscribed', (e) => subscribed.push(e));
    await s.subscribeOnServer(true);
    expect(h.calls).toEqual([{ type: 'subscribe', channel: 'room:1', recover: { offset: 10, epoch: 'e9' } }]);
    expect(got).toEqual([11, 12]);
    expect(subscribed).toEqual([{ offset: 12, epoch: 'e9', recovered: true, resubscribe: true }]);
  });

  it('a new epoch restarts from the top and reports recovered: false', () => {
    const s = new Subscription(host(), 'room:1', { since: { offset: 10, epoch: 'old' } });
    const subscribed: unknown[] = [];
    s.on('subscribed', (e) => subscribed.push(e));
    s.applySubscribed(3, 'new', true, [], true, true);
    expect(s.position).toEqual({ offset: 3, epoch: 'new' });
    expect(subscribed).toEqual([{ offset: 3, epoch: 'new', recovered: false, resubscribe: true }]);
  });

  it('not recovered in the same epoch: fills the gap from history, and drops a history reply of another epoch', async () => {
    const h = host({
      history: async (channel, opts) => {
        h.calls.push(['history', channel, opts]);
        return { offset: 9, epoch: 'other', publications: [{ offset: 6, data: 6 }] };
      },
    });
    const s = new Subscription(h, 'room:1', { since: { offset: 5, epoch: 'e' } });
    const lost: unknown[] = [];
    const got: number[] = [];
    s.on('lost', (l) => lost.push(l));
    s.on('publication', (p) => got.push(p.offset));
    s.applySubscribed(9, 'e', false, [], true, true);
    await vi.waitFor(() => expect(lost).toEqual([{ from: 5, to: 9 }]));
    expect(h.calls[0]).toEqual(['history', 'room:1', { since: { offset: 5, epoch: 'e' }, limit: 4 }]);
    expect(got).toEqual([]);
  });

  it('unsubscribe: tells the server only if it was subscribed, and never throws', async () => {
    const h = host({
      command: async (cmd) => {
        h.calls.push(cmd);
        throw new Error('gone');
      },
    });
    const idle = new Subscription(h, 'room:1');
    await idle.unsubscribe();
    expect(h.calls).toEqual([['remove', 'room:1']]);

    const live = new Subscription(h, 'room:2');
    live.applySubscribed(0, 'e', true, [], false, false);
    await expect(live.unsubscribe()).resolves.toBeUndefined();
    expect(h.calls.slice(1)).toEqual([['remove', 'room:2'], { type: 'unsubscribe', channel: 'room:2' }]);
    expect(live.state).toBe('unsubscribed');
    live.suspend(); // stays unsubscribed
    expect(live.state).toBe('unsubscribed');
  });

  it('fail() wraps what is not an Error', () => {
    const s = new Subscription(host(), 'room:1');
    const errors: Error[] = [];
    s.on('error', (e) => errors.push(e));
    s.fail('plain string');
    const e = new Error('real');
    s.fail(e);
    expect(errors.map((x) => x.message)).toEqual(['plain string', 'real']);
    expect(errors[1]).toBe(e);
  });
});
