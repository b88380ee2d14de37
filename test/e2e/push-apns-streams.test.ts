/**
 * The APNs client's connection handling against the local APNs server: the stream limit
 * it follows (SETTINGS_MAX_CONCURRENT_STREAMS, one stream until the token is accepted,
 * Apple's drop to 1 after a rejection), GOAWAY mid-burst (nothing lost, nothing
 * duplicated), timeouts, reconnects, several connections, abort and close.
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { constants } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApnsProvider } from '../../src/push/providers/apns/index.ts';
import type { PushOutcome } from '../../src/push/providers/types.ts';
import {
  startApnsServer,
  type ApnsServerOptions,
  type ApnsTestServer,
} from '../helpers/push-servers/apns-server.ts';
import { until } from '../helpers/wait.ts';
import { acceptedCounts, burst, clientFor, deviceToken, ios, message, Watch } from './push-apns-fixtures.ts';

const servers: ApnsTestServer[] = [];
const clients: ApnsProvider[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(opts: ApnsServerOptions = {}): Promise<ApnsTestServer> {
  const s = await startApnsServer(opts);
  servers.push(s);
  return s;
}
function client(...args: Parameters<typeof clientFor>): ApnsProvider {
  const c = clientFor(...args);
  clients.push(c);
  return c;
}
const kinds = (m: Map<string, PushOutcome>) => [...m.values()].map((o) => o.kind);
/** The server records in answer order; this is arrival order (by connection, then stream id). */
const byArrival = (apns: ApnsTestServer) =>
  [...apns.requests].sort((a, b) => a.session - b.session || a.streamId - b.streamId);
const allDelivered = (m: Map<string, PushOutcome>) => kinds(m).every((k) => k === 'delivered');

describe('APNs: the stream limit', () => {
  it('sends one stream until the token is accepted, then never more than the announced 5', async () => {
    const apns = await server({ maxConcurrentStreams: 5, latencyMs: 20 });
    const watch = new Watch();
    const c = client(apns, {}, watch);
    const outcomes = await burst(c, 40, 'n');
    expect(allDelivered(outcomes)).toBe(true);
    expect(watch.streams[0]).toEqual({ inFlight: 1, limit: 1 });
    expect(watch.streams.every((s) => s.inFlight <= s.limit)).toBe(true);
    expect(Math.max(...watch.streams.map((s) => s.inFlight))).toBe(5);
    expect(apns.maxActive).toBe(5);
    expect(byArrival(apns)[1]!.activeAtArrival).toBe(1); // the second stream waited for the first answer
    expect(watch.resends).toEqual([]);
    expect(apns.sessions).toBe(1);
    expect([...acceptedCounts(apns).values()].every((n) => n === 1)).toBe(true);
  });

  it('keeps to one stream until APNs accepts the token, even when the first SETTINGS allow more', async () => {
    const apns = await server({ initialMaxConcurrentStreams: 100, maxConcurrentStreams: 100, latencyMs: 20 });
    const watch = new Watch();
    const c = client(apns, {}, watch);
    expect(allDelivered(await burst(c, 10, 'n'))).toBe(true);
    expect(watch.streams[0]).toEqual({ inFlight: 1, limit: 1 });
    expect(
      byArrival(apns)
        .slice(0, 2)
        .map((r) => r.activeAtArrival),
    ).toEqual([1, 1]); // the second waited for the first answer
    expect(watch.streams.slice(1).some((s) => s.inFlight > 1 && s.limit === 100)).toBe(true);
  });

  it('follows APNs down to 1 stream after a rejection and back up after a success', async () => {
    const apns = await server({ maxConcurrentStreams: 5, latencyMs: 20 });
    apns.dropToOneAfterReject(true);
    const watch = new Watch();
    const c = client(apns, {}, watch);
    expect(allDelivered(await burst(c, 5, 'warm'))).toBe(true);
    apns.setTokenOutcome(deviceToken(9), { status: 400, reason: 'BadPriority' });
    expect(await c.send(ios(deviceToken(9)), message('rejected'))).toMatchObject({
      kind: 'failed',
      reason: 'BadPriority',
    });
    await until(() => c.stats().connections[0]!.limit === 1, 'the client sees the limit drop to 1');

    const mark = watch.streams.length;
    const firstAfter = apns.requests.length;
    const outcomes = await burst(c, 20, 'n');
    expect(allDelivered(outcomes)).toBe(true);
    const after = watch.streams.slice(mark);
    expect(after[0]).toEqual({ inFlight: 1, limit: 1 });
    expect(after.every((s) => s.inFlight <= s.limit)).toBe(true);
    expect(after.some((s) => s.limit === 5 && s.inFlight > 1)).toBe(true);
    expect(byArrival(apns)[firstAfter]).toMatchObject({ activeAtArrival: 1, limitAtArrival: 1 });
    expect(watch.resends).toEqual([]);
  });

  it('follows a limit lowered mid-burst: nothing lost, nothing duplicated', async () => {
    const apns = await server({ maxConcurrentStreams: 10, latencyMs: 10 });
    const watch = new Watch();
    const c = client(apns, {}, watch);
    const pending = burst(c, 60, 'n');
    await until(() => apns.requests.length >= 10, 'ten notifications accepted');
    apns.setMaxConcurrentStreams(2);
    const outcomes = await pending;
    expect(allDelivered(outcomes)).toBe(true);
    expect([...acceptedCounts(apns).values()]).toEqual(Array(60).fill(1));
    const lowered = watch.streams.findIndex((s) => s.limit === 2);
    expect(lowered).toBeGreaterThan(0);
    expect(watch.streams.slice(lowered).every((s) => s.inFlight <= 2)).toBe(true);
  });
});

describe('APNs: GOAWAY', () => {
  it('GOAWAY (NO_ERROR) mid-burst: unprocessed streams go out again on a new connection; all delivered exactly once', async () => {
    const apns = await server({ maxConcurrentStreams: 10, latencyMs: 5 });
    apns.goawayAfter(15);
    const watch = new Watch();
    const c = client(apns, {}, watch);
    const outcomes = await burst(c, 60, 'n');
    expect(allDelivered(outcomes)).toBe(true);
    expect([...acceptedCounts(apns).values()]).toEqual(Array(60).fill(1));
    for (const [id, o] of outcomes) {
      expect(o).toMatchObject({
        providerId: apns.requests.find((r) => r.payload.notificationId === id)!.apnsId,
      });
    }
    expect(apns.goaways).toBe(3);
    expect(apns.sessions).toBe(4);
    expect(watch.resends.length).toBeGreaterThanOrEqual(3);
    expect(watch.sessionEvents.filter((e) => e === 'goaway:Shutdown')).toHaveLength(3);
  });

  it('GOAWAY with an error code cuts processed streams: each ends delivered exactly once or retry, none lost or doubled', async () => {
    const apns = await server({ maxConcurrentStreams: 10, latencyMs: 20 });
    apns.goawayAfter(15, { code: constants.NGHTTP2_ENHANCE_YOUR_CALM, reason: 'TooManyRequests' });
    const c = client(apns);
    const outcomes = await burst(c, 60, 'n');
    const accepted = acceptedCounts(apns);
    expect(outcomes.size).toBe(60);
    expect([...accepted.values()].every((n) => n === 1)).toBe(true);
    for (const [id, o] of outcomes) {
      expect(['delivered', 'retry']).toContain(o.kind);
      if (o.kind === 'delivered') expect(accepted.get(id)).toBe(1);
    }
    expect(kinds(outcomes)).toContain('delivered');
    expect(kinds(outcomes)).toContain('retry');
    expect(apns.sessions).toBeGreaterThan(1);
  });
});

describe('APNs: failures of the connection', () => {
  it('a server that never answers → Timeout → retry; the connection stays in use', async () => {
    const apns = await server();
    const c = client(apns, { requestTimeoutMs: 300 });
    apns.setTokenOutcome(deviceToken(1), 'hang');
    expect(await c.send(ios(deviceToken(1)), message('hung'))).toEqual({ kind: 'retry', reason: 'Timeout' });
    expect(await c.send(ios(deviceToken(2)), message('next'))).toMatchObject({ kind: 'delivered' });
    expect(apns.sessions).toBe(1);
  });

  it('a dropped connection cuts its streams (retry) and the next send reconnects', async () => {
    const apns = await server();
    const c = client(apns);
    apns.setTokenOutcome(deviceToken(1), 'hang');
    const hung = c.send(ios(deviceToken(1)), message('hung'));
    await until(() => c.stats().connections[0]!.inFlight === 1, 'the hung stream is in flight');
    apns.dropConnections();
    expect(await hung).toMatchObject({ kind: 'retry' });
    expect(await c.send(ios(deviceToken(2)), message('next'))).toMatchObject({ kind: 'delivered' });
    expect(apns.sessions).toBe(2);
  });

  it('no server listening → retry with the network error', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    const apns = await server();
    const c = client(apns, { url: `https://127.0.0.1:${port}` });
    expect(await c.send(ios(deviceToken(1)), message('x'))).toEqual({
      kind: 'retry',
      reason: 'ECONNREFUSED',
    });
  });

  it('spreads work over `connections` connections', async () => {
    const apns = await server({ latencyMs: 10 });
    const c = client(apns, { connections: 3 });
    expect(allDelivered(await burst(c, 30, 'n'))).toBe(true);
    expect(apns.sessions).toBe(3);
    expect(new Set(apns.requests.map((r) => r.session))).toEqual(new Set([1, 2, 3]));
  });

  it('abort: before sending or while in flight → retry Aborted', async () => {
    const apns = await server();
    const c = client(apns);
    expect(await c.send(ios(deviceToken(1)), message('x'), AbortSignal.abort())).toEqual({
      kind: 'retry',
      reason: 'Aborted',
    });
    apns.setTokenOutcome(deviceToken(2), 'hang');
    const ac = new AbortController();
    const pending = c.send(ios(deviceToken(2)), message('y'), ac.signal);
    await until(() => c.stats().connections[0]!.inFlight === 1, 'in flight');
    ac.abort();
    expect(await pending).toEqual({ kind: 'retry', reason: 'Aborted' });
    await until(() => c.stats().connections[0]!.inFlight === 0, 'the stream is cancelled');
    expect(apns.requests).toHaveLength(0);
  });

  it('close(): in-flight sends finish, queued and later ones are retry Closed, connections end', async () => {
    const apns = await server({ latencyMs: 50, maxConcurrentStreams: 2 });
    const c = client(apns);
    expect(await c.send(ios(deviceToken(2)), message('warm'))).toMatchObject({ kind: 'delivered' });
    const pending = burst(c, 5, 'n');
    await until(() => c.stats().connections[0]!.inFlight === 2, 'two in flight, three queued', 5_000);
    await c.close();
    const outcomes = [...(await pending).values()];
    expect(outcomes.map((o) => o.kind)).toEqual(['delivered', 'delivered', 'retry', 'retry', 'retry']);
    expect(outcomes.slice(2)).toEqual(Array(3).fill({ kind: 'retry', reason: 'Closed' }));
    expect(await c.send(ios(deviceToken(1)), message('late'))).toEqual({ kind: 'retry', reason: 'Closed' });
    expect(c.stats().connections[0]!.sessions).toBe(0);
  });
});
