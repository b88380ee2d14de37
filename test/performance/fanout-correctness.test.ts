/**
 * Load correctness (no timing asserts; speed is measured in bench/): 1,000 real sockets
 * on one channel receive every publication exactly once and in order, and a reader that
 * stops reading is closed 4009 while every other subscriber keeps receiving everything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

interface Sub {
  ws: WebSocket;
  offsets: number[];
  closeCode?: number;
}

async function openSubscriber(url: string, token: string, channel: string): Promise<Sub> {
  const ws = new WebSocket(url);
  const sub: Sub = { ws, offsets: [] };
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.on('message', (raw) => {
      const f = JSON.parse(raw.toString()) as { type: string; offset?: number };
      if (f.type === 'connected') ws.send(JSON.stringify({ id: 2, type: 'subscribe', channel }));
      else if (f.type === 'subscribed') resolve();
      else if (f.type === 'message') sub.offsets.push(f.offset!);
    });
    ws.once('open', () => ws.send(JSON.stringify({ id: 1, type: 'connect', token })));
  });
  ws.on('close', (code) => (sub.closeCode = code));
  return sub;
}

describe('fan-out correctness under load', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer({
      MAX_CONNECTIONS_PER_USER: '100000',
      RATE_LIMIT_COMMANDS: '100000',
      OUTBOUND_MAX_BYTES: '65536',
      HISTORY_SIZE: '1000',
    });
  });
  afterAll(async () => srv.close());

  it('1,000 subscribers each receive all 200 publications exactly once, in order', async () => {
    const token = await srv.token({ sub: 'load' });
    const subs: Sub[] = [];
    for (let i = 0; i < 1000; i += 100) {
      subs.push(
        ...(await Promise.all(
          Array.from({ length: 100 }, () => openSubscriber(srv.wsUrl, token, 'load:all')),
        )),
      );
    }
    expect(srv.app.gateway.connectionCount).toBe(1000);
    const N = 200;
    const svc = await srv.token({ sub: 'svc', scope: 'publish' });
    for (let i = 1; i <= N; i++) {
      const r = await fetch(`${srv.url}/v1/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'load:all', data: { i, pad: 'x'.repeat(100) } }),
      });
      expect(r.status).toBe(200);
    }
    await until(() => subs.every((s) => s.offsets.length >= N), 'all delivered');
    const expected = Array.from({ length: N }, (_, i) => i + 1);
    let wrong = 0;
    for (const s of subs) if (JSON.stringify(s.offsets) !== JSON.stringify(expected)) wrong++;
    expect(wrong).toBe(0);
    await Promise.all(subs.map((s) => new Promise((r) => (s.ws.once('close', r), s.ws.close()))));
  });

  it('a reader that stops reading is closed 4009; the others get everything', async () => {
    const token = await srv.token({ sub: 'slow-test' });
    const slow = await openSubscriber(srv.wsUrl, token, 'load:slow');
    const fast = await Promise.all(
      Array.from({ length: 50 }, () => openSubscriber(srv.wsUrl, token, 'load:slow')),
    );
    // Stop reading: the kernel buffers fill, then the server's queue for this socket grows.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    // Enough bytes to overflow loopback's kernel buffers for the paused reader (≈12 MiB).
    const N = 1500;
    const payload = 'y'.repeat(8 * 1024);
    const pub = new WebSocket(srv.wsUrl);
    await new Promise((r) => pub.once('open', r));
    const replies: Array<() => void> = [];
    pub.on('message', (raw) => {
      const f = JSON.parse(raw.toString()) as { type: string };
      if (f.type === 'published' || f.type === 'connected') replies.shift()?.();
    });
    const send = (cmd: object) => new Promise<void>((r) => (replies.push(r), pub.send(JSON.stringify(cmd))));
    await send({ id: 1, type: 'connect', token: await srv.token({ sub: 'slow-pub' }) });
    // The slow reader resumes as soon as the server reports the slow-consumer close, so it
    // reads the close frame within the server's close grace however loaded the machine is.
    let resumed = false;
    const deadline = Date.now() + 120_000;
    const watcher = (async () => {
      while (!resumed && Date.now() < deadline) {
        const m = await (await fetch(`${srv.url}/metrics`)).text();
        if (/backbeat_gateway_slow_consumer_closes_total [1-9]/.test(m)) {
          (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
          resumed = true;
        } else await new Promise((r) => setTimeout(r, 25));
      }
    })();
    // One publish at a time, as a paced producer would: fast readers keep their queues short.
    for (let i = 0; i < N; i++)
      await send({ id: 10 + i, type: 'publish', channel: 'load:slow', data: { i, payload } });
    await until(() => fast.every((s) => s.offsets.length === N), 'fast subscribers received everything');
    for (const s of fast) expect(s.offsets).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    // The slow reader finds its connection closed with 4009.
    await until(() => resumed, 'server closed the slow consumer');
    await watcher;
    await until(() => slow.closeCode !== undefined, 'slow consumer closed');
    expect(slow.closeCode).toBe(4009);
    expect(slow.offsets.length).toBeLessThan(N);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/backbeat_gateway_slow_consumer_closes_total [1-9]/);
    pub.close();
    for (const s of fast) s.ws.close();
  });
});
