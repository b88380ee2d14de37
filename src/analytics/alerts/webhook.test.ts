import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../core/observability/index.ts';
import { ManualClock } from '../../core/time/index.ts';
import { WebhookSender, type WebhookOptions } from './webhook.ts';

const logger = createLogger('silent');
const servers: Server[] = [];
const senders: WebhookSender[] = [];

afterEach(async () => {
  await Promise.all(senders.splice(0).map((s) => s.close()));
  const closing = servers.splice(0);
  for (const s of closing) s.closeAllConnections();
  await Promise.all(closing.map((s) => new Promise((r) => s.close(r))));
});

/** A receiver on 127.0.0.1 answering each POST with `respond(n)` (n = 1, 2, …); 'hang' never answers. */
async function receiver(respond: (n: number) => number | 'hang') {
  const bodies: unknown[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      bodies.push({
        method: req.method,
        type: req.headers['content-type'],
        body: JSON.parse(data) as unknown,
      });
      const status = respond(bodies.length);
      if (status === 'hang') return;
      res.writeHead(status).end('ok');
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, bodies };
}

function sender(url: string, over: Partial<WebhookOptions> = {}) {
  const clock = new ManualClock();
  const registry = new Registry();
  const outcomes = new Counter({
    name: 'backbeat_alerts_webhook_total',
    help: 'h',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const s = new WebhookSender({
    url,
    clock,
    logger,
    outcomes,
    timeoutMs: 2000,
    baseDelayMs: 500,
    maxAttempts: 4,
    ...over,
  });
  senders.push(s);
  const counts = async () =>
    Object.fromEntries(
      (await outcomes.get()).values
        .filter((v) => v.value > 0)
        .map((v) => [String(v.labels.outcome), v.value]),
    );
  return { s, clock, counts };
}

describe('WebhookSender', () => {
  it('retries a failing receiver with exponential backoff until it succeeds', async () => {
    const r = await receiver((n) => (n <= 2 ? 503 : 204));
    const { s, clock, counts } = sender(r.url);
    s.enqueue({ id: 'a1', state: 'open' });
    await vi.waitFor(() => expect(r.bodies).toHaveLength(1));
    await vi.waitFor(async () => expect(await counts()).toEqual({ retried: 1 }));
    clock.tick(499); // backoff 500 ms: not yet
    await new Promise((res) => setTimeout(res, 20));
    expect(r.bodies).toHaveLength(1);
    clock.tick(1);
    await vi.waitFor(() => expect(r.bodies).toHaveLength(2));
    await vi.waitFor(async () => expect(await counts()).toEqual({ retried: 2 }));
    clock.tick(1000); // then 1,000 ms
    await s.idle();
    expect(r.bodies).toHaveLength(3);
    expect(r.bodies[2]).toEqual({
      method: 'POST',
      type: 'application/json',
      body: { id: 'a1', state: 'open' },
    });
    expect(await counts()).toEqual({ retried: 2, delivered: 1 });
  });

  it('gives up after maxAttempts; a 4xx is rejected without retry', async () => {
    const r = await receiver((n) => (n === 4 ? 400 : 500));
    const { s, clock, counts } = sender(r.url, { maxAttempts: 3 });
    s.enqueue({ id: 'x' });
    s.enqueue({ id: 'y' });
    for (const n of [1, 2]) {
      await vi.waitFor(() => expect(r.bodies).toHaveLength(n));
      await vi.waitFor(async () => expect((await counts()).retried).toBe(n));
      clock.tick(500 * 2 ** (n - 1));
    }
    await s.idle();
    expect(r.bodies.map((b) => (b as { body: { id: string } }).body.id)).toEqual(['x', 'x', 'x', 'y']);
    expect(await counts()).toEqual({ retried: 2, failed: 1, rejected: 1 });
  });

  it('a hanging receiver times out (on the clock) and is retried', async () => {
    const r = await receiver((n) => (n === 1 ? 'hang' : 200));
    const { s, clock, counts } = sender(r.url);
    s.enqueue({ id: 'h' });
    await vi.waitFor(() => expect(r.bodies).toHaveLength(1));
    clock.tick(2000); // the attempt's timeout
    await vi.waitFor(async () => expect(await counts()).toEqual({ retried: 1 }));
    clock.tick(500);
    await s.idle();
    expect(await counts()).toEqual({ retried: 1, delivered: 1 });
  });

  it('a refused connection is retried, never thrown; enqueue returns at once', async () => {
    const r = await receiver(() => 200);
    const url = r.url;
    const server = servers.pop()!;
    await new Promise((res) => server.close(res)); // nothing listens there now
    const { s, clock, counts } = sender(url, { maxAttempts: 2 });
    s.enqueue({ id: 'dead' });
    expect(s.pending).toBe(0); // taken by the worker
    await vi.waitFor(async () => expect(await counts()).toEqual({ retried: 1 }));
    clock.tick(500);
    await s.idle();
    expect(await counts()).toEqual({ retried: 1, failed: 1 });
  });

  it('the queue is bounded: when full the oldest waiting alert is dropped and counted', async () => {
    const r = await receiver(() => 'hang');
    const { s, counts } = sender(r.url, { maxQueue: 3 });
    for (let i = 0; i < 8; i++) s.enqueue({ id: `q${i}` });
    // q0 is in flight (hanging); q1…q7 compete for 3 places: q1…q4 dropped.
    expect(s.pending).toBe(3);
    expect(await counts()).toEqual({ dropped: 4 });
    await s.close(); // aborts the hanging attempt, discards the rest
    expect(s.pending).toBe(0);
  });
});
