/** Broker, Presence, RateLimiter and SessionStore contracts, for every engine. */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/time/index.ts';
import type {
  BrokerHandler,
  ClientInfo,
  ControlMessage,
  Engines,
  Publication,
} from '../../src/gateway/index.ts';
import { factories, type EngineOptions } from './engines.ts';

function recorder() {
  const events: string[] = [];
  const handler: BrokerHandler = {
    onPublication: (ch: string, p: Publication) =>
      events.push(`pub ${ch} ${p.offset} ${JSON.stringify(p.data)}`),
    onJoin: (ch: string, i: ClientInfo) => events.push(`join ${ch} ${i.client}`),
    onLeave: (ch: string, i: ClientInfo) => events.push(`leave ${ch} ${i.client}`),
    onControl: (m: ControlMessage) => events.push(`ctl ${m.type}`),
    onResync: () => events.push('resync'),
  };
  return { events, handler };
}

describe.each(factories)('ports contract: $name', (factory) => {
  const open: Engines[] = [];
  const make = async (opts?: EngineOptions, clock = new ManualClock()) => {
    const e = await factory.create(clock, opts);
    open.push(e);
    return { e, clock };
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((e) => e.close()));
  });

  describe('Broker', () => {
    it('delivers publications, joins and leaves of subscribed channels only, in order', async () => {
      const { e, clock } = await make();
      const { events, handler } = recorder();
      e.broker.setHandler(handler);
      await e.broker.subscribe('b:on');
      for (let i = 1; i <= 5; i++) await e.publish('b:on', { data: i, ts: clock.now() });
      await e.publish('b:off', { data: 'x', ts: clock.now() });
      await e.broker.publishJoin('b:on', { user: 'u', client: 'c1' });
      await e.broker.publishLeave('b:on', { user: 'u', client: 'c1' });
      await e.broker.publishJoin('b:off', { user: 'u', client: 'c2' });
      await expect.poll(() => events.length).toBe(7);
      expect(events).toEqual([
        'pub b:on 1 1',
        'pub b:on 2 2',
        'pub b:on 3 3',
        'pub b:on 4 4',
        'pub b:on 5 5',
        'join b:on c1',
        'leave b:on c1',
      ]);
    });

    it('unsubscribe stops delivery', async () => {
      const { e, clock } = await make();
      const { events, handler } = recorder();
      e.broker.setHandler(handler);
      await e.broker.subscribe('b:u');
      await e.publish('b:u', { data: 1, ts: clock.now() });
      await expect.poll(() => events.length).toBe(1);
      await e.broker.unsubscribe('b:u');
      await e.publish('b:u', { data: 2, ts: clock.now() });
      await e.broker.publishControl({ type: 'ping', node: 'n' });
      await expect.poll(() => events.at(-1)).toBe('ctl ping');
      expect(events).toEqual(['pub b:u 1 1', 'ctl ping']);
    });

    it('control messages reach the handler without any channel subscription', async () => {
      const { e } = await make();
      const { events, handler } = recorder();
      e.broker.setHandler(handler);
      await e.broker.publishControl({ type: 'disconnect-user', user: 'x', code: 4003, reason: 'r' });
      await expect.poll(() => events).toEqual(['ctl disconnect-user']);
    });
  });

  describe('Presence', () => {
    it('add, list, idempotent add, remove', async () => {
      const { e } = await make();
      await e.presence.add('p:a', { user: 'u1', client: 'c1' });
      await e.presence.add('p:a', { user: 'u2', client: 'c2' });
      await e.presence.add('p:a', { user: 'u1', client: 'c1' });
      await e.presence.add('p:b', { user: 'u3', client: 'c3' });
      const list = await e.presence.list('p:a');
      expect(list.sort((x, y) => x.client.localeCompare(y.client))).toEqual([
        { user: 'u1', client: 'c1' },
        { user: 'u2', client: 'c2' },
      ]);
      await e.presence.remove('p:a', 'c1');
      expect(await e.presence.list('p:a')).toEqual([{ user: 'u2', client: 'c2' }]);
      await e.presence.remove('p:a', 'missing');
      expect(await e.presence.list('p:none')).toEqual([]);
    });
  });

  describe('RateLimiter', () => {
    it('sliding window: limit accepted, limit + 1 refused with the exact retry; slides', async () => {
      const { e, clock } = await make();
      const rule = { limit: 3, windowMs: 1000 };
      const t0 = clock.now();
      for (let i = 0; i < 3; i++) {
        const d = await e.rateLimiter.consume('k1', rule);
        expect(d).toMatchObject({ allowed: true, remaining: 2 - i });
        clock.tick(100);
      }
      const refused = await e.rateLimiter.consume('k1', rule);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBe(t0 + 1000 - clock.now()); // until the oldest leaves
      clock.set(t0 + 999);
      expect((await e.rateLimiter.consume('k1', rule)).allowed).toBe(false);
      clock.set(t0 + 1000);
      expect((await e.rateLimiter.consume('k1', rule)).allowed).toBe(true);
      expect((await e.rateLimiter.consume('k2', rule)).allowed).toBe(true); // keys independent
    });

    it('reset clears a key', async () => {
      const { e } = await make();
      const rule = { limit: 1, windowMs: 60_000 };
      await e.rateLimiter.consume('r', rule);
      expect((await e.rateLimiter.consume('r', rule)).allowed).toBe(false);
      await e.rateLimiter.reset('r');
      expect((await e.rateLimiter.consume('r', rule)).allowed).toBe(true);
    });

    it('slots: up to max, idempotent per member, released slots are free again', async () => {
      const { e } = await make();
      expect(await e.rateLimiter.acquireSlot('s', 'a', 2)).toBe(true);
      expect(await e.rateLimiter.acquireSlot('s', 'a', 2)).toBe(true);
      expect(await e.rateLimiter.acquireSlot('s', 'b', 2)).toBe(true);
      expect(await e.rateLimiter.acquireSlot('s', 'c', 2)).toBe(false);
      await e.rateLimiter.releaseSlot('s', 'a');
      expect(await e.rateLimiter.acquireSlot('s', 'c', 2)).toBe(true);
      expect(await e.rateLimiter.acquireSlot('other', 'x', 1)).toBe(true);
      expect(await e.rateLimiter.slotCount('s')).toBe(2);
      expect(await e.rateLimiter.slotCount('other')).toBe(1);
      expect(await e.rateLimiter.slotCount('none')).toBe(0);
    });
  });

  describe('SessionStore', () => {
    it('save, take once', async () => {
      const { e } = await make();
      const rec = { user: 'u', channels: { 'c:a': { presence: true, offset: 3, epoch: 'e' } } };
      await e.sessions.save('s1', rec, 60_000);
      expect(await e.sessions.take('s1', 'u')).toEqual(rec);
      expect(await e.sessions.take('s1', 'u')).toBeUndefined();
      expect(await e.sessions.take('never', 'u')).toBeUndefined();
    });

    it("another user's take neither returns nor consumes the session (resume-token theft)", async () => {
      const { e } = await make();
      const rec = { user: 'alice', channels: { 'c:a': { presence: false, offset: 1, epoch: 'e' } } };
      await e.sessions.save('s2', rec, 60_000);
      expect(await e.sessions.take('s2', 'mallory')).toBeUndefined();
      expect(await e.sessions.take('s2', 'alice')).toEqual(rec);
    });
  });

  it('health reports its dependencies as up', async () => {
    const { e } = await make();
    const h = e.health();
    expect(Object.values(h).every((c) => c.ok)).toBe(true);
  });
});
