/** SPEC §3 channel commands and pushes, over raw frames. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let srv: TestServer;
let n = 0;
const ch = (ns = 'chat') => `${ns}:room-${++n}`;
beforeAll(async () => {
  srv = await startTestServer({ HISTORY_SIZE: '5', MAX_SUBSCRIPTIONS: '3' });
});
afterAll(async () => srv.close());

async function client(sub: string, claims: Record<string, unknown> = {}): Promise<RawClient> {
  return RawClient.connect(srv.wsUrl, await srv.token({ sub, ...claims }));
}

describe('subscribe / unsubscribe', () => {
  it('subscribed reply: channel, offset (top), epoch, recovered false, no publications', async () => {
    const c = await client('s1');
    const r = await c.request({ id: 5, type: 'subscribe', channel: 'chat:x1' });
    expect(r).toEqual({
      id: 5,
      type: 'subscribed',
      channel: 'chat:x1',
      offset: 0,
      epoch: expect.any(String),
      recovered: false,
      publications: [],
    });
    await c.close();
  });

  it('offset is the channel top when subscribing late', async () => {
    const c = await client('s2');
    const channel = ch();
    for (let i = 0; i < 3; i++) await c.request({ type: 'publish', channel, data: i });
    expect(await c.request({ type: 'subscribe', channel })).toMatchObject({ offset: 3, publications: [] });
    await c.close();
  });

  it('a second subscribe to the same channel is 4400', async () => {
    const c = await client('s3');
    const channel = ch();
    await c.request({ type: 'subscribe', channel });
    expect(await c.request({ type: 'subscribe', channel })).toMatchObject({ type: 'error', code: 4400 });
    await c.close();
  });

  it('MAX_SUBSCRIPTIONS bounds subscriptions per connection (4400)', async () => {
    const c = await client('s4');
    for (let i = 0; i < 3; i++)
      expect(await c.request({ type: 'subscribe', channel: ch() })).toMatchObject({ type: 'subscribed' });
    expect(await c.request({ type: 'subscribe', channel: ch() })).toMatchObject({
      type: 'error',
      code: 4400,
    });
    await c.close();
  });

  it('without a channels grant: 4003; the own inbox user:SUB is always allowed', async () => {
    const c = await client('carol', { channels: ['chat:*'], publish: [] });
    expect(await c.request({ type: 'subscribe', channel: 'news:a' })).toMatchObject({
      type: 'error',
      code: 4003,
    });
    expect(await c.request({ type: 'subscribe', channel: 'user:carol' })).toMatchObject({
      type: 'subscribed',
    });
    expect(await c.request({ type: 'subscribe', channel: 'user:dave' })).toMatchObject({
      type: 'error',
      code: 4003,
    });
    expect(await c.request({ type: 'history', channel: 'user:carol' })).toMatchObject({ type: 'history' });
    expect(await c.request({ type: 'presence', channel: 'user:carol' })).toMatchObject({ type: 'presence' });
    await c.close();
  });

  it('a server publish to user:SUB reaches that user', async () => {
    const c = await client('erin', { channels: [], publish: [] });
    await c.request({ type: 'subscribe', channel: 'user:erin' });
    const svc = await srv.token({ sub: 'svc', scope: 'publish' });
    const r = await fetch(`${srv.url}/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svc}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'user:erin', data: { kind: 'hello' } }),
    });
    expect(r.status).toBe(200);
    expect(await c.waitFor((f) => f.type === 'message')).toEqual({
      type: 'message',
      channel: 'user:erin',
      offset: 1,
      data: { kind: 'hello' },
      info: { user: 'svc' },
    });
    await c.close();
  });

  it('unsubscribe stops delivery; unsubscribing a channel not subscribed still answers unsubscribed', async () => {
    const a = await client('u1');
    const b = await client('u2');
    const channel = ch();
    await a.request({ type: 'subscribe', channel });
    expect(await a.request({ id: 9, type: 'unsubscribe', channel })).toEqual({
      id: 9,
      type: 'unsubscribed',
      channel,
    });
    expect(await a.request({ type: 'unsubscribe', channel: ch() })).toMatchObject({ type: 'unsubscribed' });
    await b.request({ type: 'publish', channel, data: 1 });
    expect(await a.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(a.ofType('message')).toHaveLength(0);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('publish and message pushes', () => {
  it('published reply with offsets starting at 1 and growing by one; pushes carry data and info', async () => {
    const pubr = await client('pub1');
    const subr = await client('sub1');
    const channel = ch();
    await subr.request({ type: 'subscribe', channel });
    const offsets = [];
    for (let i = 0; i < 5; i++) {
      const r = await pubr.request({ id: 100 + i, type: 'publish', channel, data: { i } });
      expect(r).toEqual({ id: 100 + i, type: 'published', channel, offset: i + 1 });
      offsets.push(r['offset']);
    }
    await subr.waitFor((f) => f.type === 'message' && f['offset'] === 5);
    const msgs = subr.ofType('message');
    expect(msgs.map((m) => m['offset'])).toEqual([1, 2, 3, 4, 5]);
    const pubClient = (pubr.frames.find((f) => f.type === 'connected') as { client: string }).client;
    expect(msgs[0]).toEqual({
      type: 'message',
      channel,
      offset: 1,
      data: { i: 0 },
      info: { user: 'pub1', client: pubClient },
    });
    await Promise.all([pubr.close(), subr.close()]);
  });

  it('pipelined publishes from one connection get offsets in send order', async () => {
    const c = await client('order');
    const channel = ch();
    for (let i = 1; i <= 20; i++) c.send({ id: i + 10, type: 'publish', channel, data: i });
    for (let i = 1; i <= 20; i++)
      expect(await c.waitFor((f) => f.id === i + 10)).toMatchObject({ offset: i });
    await c.close();
  });

  it('publish without a publish grant is 4003 and changes nothing', async () => {
    const c = await client('ro', { channels: ['*'], publish: ['chat:own'] });
    const channel = ch('news');
    expect(await c.request({ type: 'publish', channel, data: 1 })).toMatchObject({
      type: 'error',
      code: 4003,
    });
    expect(await c.request({ type: 'history', channel })).toMatchObject({ offset: 0, publications: [] });
    await c.close();
  });

  it('any JSON value is valid data', async () => {
    const c = await client('any');
    const channel = ch();
    await c.request({ type: 'subscribe', channel });
    for (const data of [null, 0, 'text', [1, 'a'], { deep: { x: [true] } }, false]) {
      await c.request({ type: 'publish', channel, data });
    }
    await c.waitFor((f) => f.type === 'message' && f['offset'] === 6);
    expect(c.ofType('message').map((m) => m['data'])).toEqual([
      null,
      0,
      'text',
      [1, 'a'],
      { deep: { x: [true] } },
      false,
    ]);
    await c.close();
  });
});

describe('presence, join and leave', () => {
  it('presence lists every subscriber; join/leave only to presence:true subscribers, never about themselves', async () => {
    const watcher = await client('watcher');
    const quiet = await client('quiet');
    const channel = ch();
    await watcher.request({ type: 'subscribe', channel, presence: true });
    await quiet.request({ type: 'subscribe', channel });
    const join = await watcher.waitFor((f) => f.type === 'join');
    const quietId = (quiet.frames.find((f) => f.type === 'connected') as { client: string }).client;
    expect(join).toEqual({ type: 'join', channel, info: { user: 'quiet', client: quietId } });
    const p = await quiet.request({ id: 77, type: 'presence', channel });
    expect(p['id']).toBe(77);
    expect(p['type']).toBe('presence');
    expect(p['channel']).toBe(channel);
    expect((p['clients'] as { user: string }[]).map((x) => x.user).sort()).toEqual(['quiet', 'watcher']);
    await quiet.request({ type: 'unsubscribe', channel });
    expect(await watcher.waitFor((f) => f.type === 'leave')).toEqual({
      type: 'leave',
      channel,
      info: { user: 'quiet', client: quietId },
    });
    expect(watcher.ofType('join').some((j) => (j['info'] as { user: string }).user === 'watcher')).toBe(
      false,
    );
    expect(quiet.ofType('join')).toHaveLength(0);
    // a disconnect is a leave too
    const other = await client('other');
    await other.request({ type: 'subscribe', channel });
    await watcher.waitFor((f) => f.type === 'join' && (f['info'] as { user: string }).user === 'other');
    await other.close();
    await watcher.waitFor((f) => f.type === 'leave' && (f['info'] as { user: string }).user === 'other');
    const after = await watcher.request({ type: 'presence', channel });
    expect((after['clients'] as { user: string }[]).map((x) => x.user)).toEqual(['watcher']);
    await Promise.all([watcher.close(), quiet.close()]);
  });

  it('presence needs the channels grant (4003)', async () => {
    const c = await client('np', { channels: ['chat:*'] });
    expect(await c.request({ type: 'presence', channel: 'news:x' })).toMatchObject({ code: 4003 });
    await c.close();
  });
});

describe('history', () => {
  it('without since: the latest limit, oldest first, within HISTORY_SIZE; limit 0 only position', async () => {
    const c = await client('h1');
    const channel = ch();
    for (let i = 1; i <= 7; i++) await c.request({ type: 'publish', channel, data: i });
    const all = await c.request({ id: 999, type: 'history', channel });
    expect(all).toMatchObject({ id: 999, type: 'history', channel, offset: 7, epoch: expect.any(String) });
    const pubs = all['publications'] as { offset: number; data: number; ts: number; info: unknown }[];
    expect(pubs.map((p) => p.offset)).toEqual([3, 4, 5, 6, 7]); // HISTORY_SIZE 5
    expect(pubs[0]).toEqual({
      offset: 3,
      data: 3,
      info: { user: 'h1', client: expect.any(String) },
      ts: expect.any(Number),
    });
    const two = await c.request({ type: 'history', channel, limit: 2 });
    expect((two['publications'] as { offset: number }[]).map((p) => p.offset)).toEqual([6, 7]);
    const zero = await c.request({ type: 'history', channel, limit: 0 });
    expect(zero).toMatchObject({ offset: 7, publications: [] });
    await c.close();
  });

  it('with since: what came after it', async () => {
    const c = await client('h2');
    const channel = ch();
    for (let i = 1; i <= 4; i++) await c.request({ type: 'publish', channel, data: i });
    const { epoch } = (await c.request({ type: 'history', channel, limit: 0 })) as { epoch: string };
    const r = await c.request({ type: 'history', channel, since: { offset: 2, epoch } });
    expect((r['publications'] as { offset: number }[]).map((p) => p.offset)).toEqual([3, 4]);
    const none = await c.request({ type: 'history', channel, since: { offset: 4, epoch } });
    expect(none['publications']).toEqual([]);
    await c.close();
  });

  it('history needs the channels grant (4003)', async () => {
    const c = await client('nh', { channels: [] });
    expect(await c.request({ type: 'history', channel: 'chat:x' })).toMatchObject({ code: 4003 });
    await c.close();
  });
});

describe('recovery', () => {
  it('recover returns exactly the missed publications with recovered:true', async () => {
    const a = await client('r1');
    const pub = await client('r2');
    const channel = ch();
    const first = await a.request({ type: 'subscribe', channel });
    await pub.request({ type: 'publish', channel, data: 'seen' });
    await a.waitFor((f) => f.type === 'message');
    await a.close();
    await pub.request({ type: 'publish', channel, data: 'missed-1' });
    await pub.request({ type: 'publish', channel, data: 'missed-2' });
    const b = await client('r1');
    const r = await b.request({ type: 'subscribe', channel, recover: { offset: 1, epoch: first['epoch'] } });
    expect(r).toMatchObject({ type: 'subscribed', offset: 3, epoch: first['epoch'], recovered: true });
    expect((r['publications'] as { data: string }[]).map((p) => p.data)).toEqual(['missed-1', 'missed-2']);
    await pub.request({ type: 'publish', channel, data: 'live' });
    const live = await b.waitFor((f) => f.type === 'message');
    expect(live['offset']).toBe(4);
    expect(b.ofType('message')).toHaveLength(1); // nothing duplicated between reply and pushes
    await Promise.all([b.close(), pub.close()]);
  });

  it('recover with nothing missed: recovered:true and no publications', async () => {
    const a = await client('r3');
    const channel = ch();
    await a.request({ type: 'publish', channel, data: 1 });
    const { epoch } = (await a.request({ type: 'history', channel, limit: 0 })) as { epoch: string };
    expect(await a.request({ type: 'subscribe', channel, recover: { offset: 1, epoch } })).toMatchObject({
      recovered: true,
      publications: [],
    });
    await a.close();
  });

  it('recovered:false with a foreign epoch', async () => {
    const a = await client('r4');
    const channel = ch();
    await a.request({ type: 'publish', channel, data: 1 });
    const r = await a.request({ type: 'subscribe', channel, recover: { offset: 0, epoch: 'another-epoch' } });
    expect(r).toMatchObject({ recovered: false, publications: [] });
    await a.close();
  });

  it('recovered:false when the offset was evicted from history (HISTORY_SIZE 5)', async () => {
    const a = await client('r5');
    const channel = ch();
    await a.request({ type: 'publish', channel, data: 1 });
    const { epoch } = (await a.request({ type: 'history', channel, limit: 0 })) as { epoch: string };
    for (let i = 2; i <= 10; i++) await a.request({ type: 'publish', channel, data: i });
    const r = await a.request({ type: 'subscribe', channel, recover: { offset: 1, epoch } });
    expect(r).toMatchObject({ recovered: false, offset: 10 });
    expect((r['publications'] as { offset: number }[]).map((p) => p.offset)).toEqual([6, 7, 8, 9, 10]);
    await a.close();
  });

  it('the epoch is stable while the server runs and changes after a restart (history lost)', async () => {
    const s1 = await startTestServer();
    const c1 = await RawClient.connect(s1.wsUrl, await s1.token());
    await c1.request({ type: 'publish', channel: 'chat:e', data: 1 });
    const e1 = (await c1.request({ type: 'history', channel: 'chat:e' }))['epoch'];
    expect((await c1.request({ type: 'history', channel: 'chat:e' }))['epoch']).toBe(e1);
    await c1.close();
    await s1.close();
    const s2 = await startTestServer();
    const c2 = await RawClient.connect(s2.wsUrl, await s2.token());
    const r = await c2.request({ type: 'subscribe', channel: 'chat:e', recover: { offset: 1, epoch: e1 } });
    expect(r['epoch']).not.toBe(e1);
    expect(r['recovered']).toBe(false);
    await c2.close();
    await s2.close();
  });
});

describe('session resume', () => {
  it('connect with the previous session restores subscriptions and pushes what was missed', async () => {
    const token = await srv.token({ sub: 'resume' });
    const a = await RawClient.open(srv.wsUrl);
    const connected = await a.request({ type: 'connect', token });
    const channel = ch();
    await a.request({ type: 'subscribe', channel });
    const pub = await client('resume-pub');
    await pub.request({ type: 'publish', channel, data: 1 });
    await a.waitFor((f) => f.type === 'message');
    await a.close();
    await new Promise((r) => setTimeout(r, 50));
    await pub.request({ type: 'publish', channel, data: 2 });
    const b = await RawClient.open(srv.wsUrl);
    const r = await b.request({ type: 'connect', token, session: connected['session'] });
    expect(r).toMatchObject({
      type: 'connected',
      subscriptions: { [channel]: { offset: 2, recovered: true, since: 1 } },
    });
    expect(await b.waitFor((f) => f.type === 'message')).toMatchObject({ offset: 2, data: 2 });
    await pub.request({ type: 'publish', channel, data: 3 });
    await b.waitFor((f) => f.type === 'message' && f['offset'] === 3);
    // a session resumes once
    const c = await RawClient.open(srv.wsUrl);
    expect(
      (await c.request({ type: 'connect', token, session: connected['session'] }))['subscriptions'],
    ).toBeUndefined();
    await Promise.all([b.close(), c.close(), pub.close()]);
  });

  it("another user's session is not restored", async () => {
    const a = await RawClient.open(srv.wsUrl);
    const connected = await a.request({ type: 'connect', token: await srv.token({ sub: 'victim' }) });
    await a.request({ type: 'subscribe', channel: ch() });
    await a.close();
    await new Promise((r) => setTimeout(r, 50));
    const b = await RawClient.open(srv.wsUrl);
    const r = await b.request({
      type: 'connect',
      token: await srv.token({ sub: 'thief' }),
      session: connected['session'],
    });
    expect(r['subscriptions']).toBeUndefined();
    await b.close();
  });
});

describe('event', () => {
  it('accepted with the eventId once durable; the same id again is accepted as a duplicate', async () => {
    const c = await client('ev');
    const event = { id: 'ev-1', type: 'app.opened', ts: Date.now(), data: { platform: 'web' } };
    expect(await c.request({ id: 41, type: 'event', event })).toEqual({
      id: 41,
      type: 'accepted',
      eventId: 'ev-1',
    });
    expect(await c.request({ id: 42, type: 'event', event })).toEqual({
      id: 42,
      type: 'accepted',
      eventId: 'ev-1',
      duplicate: true,
    });
    await c.close();
  });

  it("4400 naming the field for an invalid event, 4003 for another user's, 4400 for a non-object event", async () => {
    const c = await client('ev2');
    const bad = await c.request({
      type: 'event',
      event: { type: 'track.played', ts: Date.now(), data: { trackId: 't' } },
    });
    expect(bad).toMatchObject({
      type: 'error',
      code: 4400,
      message: expect.stringContaining('data.artistId is required'),
    });
    expect(
      await c.request({
        type: 'event',
        event: { type: 'app.opened', userId: 'someone', ts: Date.now(), data: { platform: 'web' } },
      }),
    ).toMatchObject({ type: 'error', code: 4003 });
    expect(await c.request({ type: 'event', event: 'nope' })).toMatchObject({ type: 'error', code: 4400 });
    await c.close();
  });
});
