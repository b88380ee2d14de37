import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KEYS_FILE } from './pseudonyms.ts';
import { event, harness, played } from './test-support.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2026, 0, 20, 12);
const deny = { analytics: false, personalization: true, marketing: true };

describe('AnalyticsService: consent in the data path', () => {
  it('without analytics consent a user counts only in anonymous totals', async () => {
    const h = harness();
    h.consents.set('user-denied', deny);
    await h.feed([
      ...Array.from({ length: 6 }, (_, i) =>
        played('user-denied', 'track-a', 'artist-a', NOW - 10 * MIN + i),
      ),
      played('user-granted', 'track-a', 'artist-a', NOW - 5 * MIN),
      event('track.liked', 'user-denied', NOW - 4 * MIN, { trackId: 'track-a', artistId: 'artist-a' }),
    ]);
    expect(h.svc.user('user-denied')).toBeUndefined();
    expect(h.svc.export('user-denied')).toMatchObject({ userId: 'user-denied', profile: null });
    expect(h.svc.user('user-granted')).toBeDefined();
    // Trending plays count everyone; unique listeners only the consenting user.
    const [a] = h.svc.trending('track', '1h', 10).items;
    expect(a).toMatchObject({ id: 'track-a', plays: 7, uniqueListeners: 1 });
    const overview = h.svc.overviewPart();
    expect(overview.events.total).toBe(8);
    expect(overview.activeUsers).toBe(1);
    expect(overview.topTracks).toEqual([{ id: 'track-a', plays: 7 }]);
    expect(h.svc.stats().trackedUsers).toBe(1);
    expect(await h.registry.getSingleMetricAsString('backbeat_analytics_events_anonymous_total')).toMatch(
      / 7$/m,
    );
  });

  it('CONSENT_DEFAULT applies to users never asked', async () => {
    const h = harness({ consentDefault: 'denied' });
    h.consents.set('asked-yes', { analytics: true, personalization: false, marketing: false });
    await h.feed([played('never-asked', 't', 'a', NOW - MIN), played('asked-yes', 't', 'a', NOW - MIN)]);
    expect(h.svc.user('never-asked')).toBeUndefined();
    expect(h.svc.user('asked-yes')).toBeDefined();
    const g = harness({ consentDefault: 'granted' });
    await g.feed([played('never-asked', 't', 'a', NOW - MIN)]);
    expect(g.svc.user('never-asked')).toBeDefined();
  });

  it('looks consent up in batches and caches it', async () => {
    const h = harness({ limits: { consentBatch: 400 } });
    const events = Array.from({ length: 1000 }, (_, i) => played(`u${i}`, 't', 'a', NOW - HOUR + i));
    await h.feed(events);
    expect(h.lookups.map((b) => b.length)).toEqual([400, 400, 200]);
    await h.feed(events.map((e) => ({ ...e, id: `${e.id}-again` })));
    expect(h.lookups.length).toBe(3);
    expect(h.svc.stats().trackedUsers).toBe(1000);
  });

  it('consentChanged drops a profile at once and keeps nothing after; granting starts keeping', async () => {
    const h = harness();
    await h.feed([played('u1', 't', 'a', NOW - 20 * MIN)]);
    expect(h.svc.user('u1')).toBeDefined();
    h.svc.consentChanged('u1', { analytics: false, personalization: true });
    expect(h.svc.user('u1')).toBeUndefined();
    expect(h.svc.segmentUsers('new')).toEqual([]);
    await h.feed([played('u1', 't', 'a', NOW - 10 * MIN)]);
    expect(h.svc.user('u1')).toBeUndefined();
    expect(h.svc.stats().trackedUsers).toBe(0);
    h.svc.consentChanged('u1', { analytics: true, personalization: true });
    await h.feed([played('u1', 't', 'a', NOW - 5 * MIN)]);
    expect(h.svc.export('u1')).toMatchObject({ profile: { counts: { plays: 1 } } });
  });

  it('a decision made while a lookup runs wins over the lookup answer', async () => {
    let answer!: () => void;
    const gate = new Promise<void>((r) => (answer = r));
    const h = harness({
      lookup: async () => {
        await gate;
        return new Map([['u1', { analytics: true, personalization: true, marketing: true }]]);
      },
    });
    expect(
      h.svc.handler.handle(played('u1', 't', 'a', NOW - MIN), { replay: false, owner: true }),
    ).toBeUndefined();
    await Promise.resolve();
    expect(h.lookups).toEqual([['u1']]);
    h.svc.consentChanged('u1', { analytics: false, personalization: false });
    answer();
    await h.svc.settled();
    expect(h.svc.user('u1')).toBeUndefined();
    await h.feed([played('u1', 't', 'a', NOW - MIN / 2)]);
    expect(h.svc.user('u1')).toBeUndefined();
    expect(h.lookups.length).toBe(1);
  });

  it('waits (backpressure) when too many events wait for consent, and drops them when consent cannot be read', async () => {
    let release!: () => void;
    let fail = true;
    const h = harness({
      limits: { consentHighWater: 5, consentAttempts: 1 },
      lookup: async () => {
        await new Promise<void>((r) => (release = r));
        if (fail) throw new Error('store down');
        return new Map();
      },
    });
    const svc = h.svc;
    const ctx = { replay: false, owner: true };
    const results = Array.from({ length: 5 }, (_, i) =>
      svc.handler.handle(played(`u${i}`, 't', 'a', NOW - MIN), ctx),
    );
    expect(results.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined]);
    expect(results[4]).toBeInstanceOf(Promise);
    let done = false;
    void results[4]!.then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    release();
    await results[4];
    await svc.settled();
    // The lookup failed: nothing kept, but the anonymous totals counted the plays.
    expect(svc.stats().trackedUsers).toBe(0);
    expect(svc.trending('track', '1h', 1).items[0]).toMatchObject({ plays: 5, uniqueListeners: 0 });
    expect(await h.registry.getSingleMetricAsString('backbeat_analytics_consent_total')).toMatch(
      /outcome="dropped"} 5/,
    );
    // Consent readable again: the next event of a user is asked again and kept.
    fail = false;
    h.clock.tick(2000);
    expect(svc.handler.handle(played('u0', 't', 'a', NOW - MIN / 2), ctx)).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    release();
    await svc.settled();
    expect(svc.user('u0')).toBeDefined();
  });

  it('retries a failing lookup with backoff before giving up', async () => {
    let calls = 0;
    const h = harness({
      limits: { consentAttempts: 3 },
      lookup: async () => {
        if (++calls < 3) throw new Error('store down');
        return new Map();
      },
    });
    expect(
      h.svc.handler.handle(played('u1', 't', 'a', NOW - MIN), { replay: false, owner: true }),
    ).toBeUndefined();
    const settled = h.svc.settled();
    for (let i = 0; i < 10 && calls < 3; i++) {
      await new Promise((r) => setImmediate(r));
      h.clock.tick(1000);
    }
    await settled;
    expect(calls).toBe(3);
    expect(h.svc.user('u1')).toBeDefined();
  });
});

describe('AnalyticsService: pseudonyms', () => {
  it('keeps no raw user id in the analytics state, only pseudonyms; the mapping answers export', async () => {
    const h = harness();
    const ids = ['alice.smith@example.com', 'bob-7f3a9c', 'carol:42'];
    await h.feed(
      ids.flatMap((id, i) => [
        played(id, `track-${i}`, `artist-${i}`, NOW - 20 * MIN, { ip: '203.0.113.77' }),
        event('app.opened', id, NOW - 19 * MIN, { platform: 'ios' }),
      ]),
    );
    const state = JSON.stringify(h.svc.stateForAudit());
    for (const id of ids) expect(state).not.toContain(id);
    expect(state).not.toContain('203.0.113.77');
    const exported = h.svc.export('alice.smith@example.com') as {
      pseudonym: string;
      profile: { network: string; platform: string };
    };
    expect(exported.pseudonym).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(state).toContain(exported.pseudonym);
    expect(exported.profile).toMatchObject({ network: '203.0.113.0/24', platform: 'ios' });
    expect(h.svc.segmentUsers('new')!.sort()).toEqual([...ids].sort());
    expect(statSync(join(h.dataDir, KEYS_FILE)).mode & 0o777).toBe(0o600);
  });

  it('rotates the key at the month boundary: new pseudonyms, same profiles, old epochs forgotten', async () => {
    const h = harness({ now: Date.UTC(2026, 0, 31, 23) });
    await h.feed([played('u1', 't', 'a', h.clock.now() - MIN), played('u2', 't', 'a', h.clock.now() - MIN)]);
    const jan = (h.svc.export('u1') as { pseudonym: string }).pseudonym;
    h.clock.set(Date.UTC(2026, 1, 1, 1));
    await h.feed([played('u1', 't', 'a', h.clock.now() - MIN)]);
    const feb = h.svc.export('u1') as {
      pseudonym: string;
      pseudonymEpoch: string;
      profile: { counts: { plays: number } };
    };
    expect(feb.pseudonym).not.toBe(jan);
    expect(feb.pseudonymEpoch).toBe('2026-02');
    expect(feb.profile.counts.plays).toBe(2);
    expect(JSON.stringify(h.svc.stateForAudit())).not.toContain(jan);
    expect(h.svc.user('u2')).toBeDefined();
    expect(await h.registry.getSingleMetricAsString('backbeat_analytics_key_rotations_total')).toMatch(
      / 1$/m,
    );
    h.clock.set(Date.UTC(2026, 2, 2));
    await h.feed([played('u3', 't', 'a', h.clock.now() - MIN)]);
    const file = JSON.parse(readFileSync(join(h.dataDir, KEYS_FILE), 'utf8'));
    expect(file.keys.map((k: { epoch: string }) => k.epoch).sort()).toEqual(['2026-02', '2026-03']);
  });
});

describe('AnalyticsService: profiles, GDPR, bounds', () => {
  it('answers a user with sessions, top artists, engagement and segment', async () => {
    const h = harness();
    await h.feed([
      played('u1', 't1', 'artist-a', NOW - 3 * HOUR),
      played('u1', 't2', 'artist-a', NOW - 3 * HOUR + 10 * MIN),
      played('u1', 't3', 'artist-b', NOW - 3 * HOUR + 20 * MIN),
      played('u1', 't4', 'artist-a', NOW - HOUR),
      event('track.liked', 'u1', NOW - HOUR + MIN, { trackId: 't4', artistId: 'artist-a' }),
      event('track.skipped', 'u1', NOW - HOUR + 2 * MIN, {
        trackId: 't5',
        artistId: 'artist-c',
        positionMs: 3000,
      }),
    ]);
    expect(h.svc.user('u1')).toEqual({
      userId: 'u1',
      engagementScore: expect.any(Number),
      segment: 'new',
      sessions: { count: 2, avgDurationMs: (20 * MIN + 2 * MIN) / 2 },
      topArtists: [
        { id: 'artist-a', plays: 3 },
        { id: 'artist-b', plays: 1 },
      ],
      lastSeen: new Date(NOW - HOUR + 2 * MIN).toISOString(),
    });
    expect(h.svc.user('u1')!.engagementScore).toBeGreaterThan(0);
    expect(h.svc.user('nobody')).toBeUndefined();
  });

  it('segments list every rule with its size; segmentUsers gives real ids, undefined for an unknown name', async () => {
    const h = harness();
    await h.feed([played('old', 't', 'a', NOW - 40 * DAY), played('fresh', 't', 'a', NOW - HOUR)]);
    const seg = h.svc.segments().segments;
    expect(seg.map((s) => s.name)).toEqual(['dormant', 'at-risk', 'new', 'power', 'regular', 'casual']);
    expect(seg.find((s) => s.name === 'dormant')!.users).toBe(1);
    expect(seg.find((s) => s.name === 'new')!.users).toBe(1);
    expect(seg.every((s) => s.description.length > 10)).toBe(true);
    expect(h.svc.segmentUsers('dormant')).toEqual(['old']);
    expect(h.svc.segmentUsers('nope')).toBeUndefined();
  });

  it('forget erases profile, sessions, mapping and cached consent; export holds everything before', async () => {
    const h = harness();
    await h.feed([
      played('u1', 't', 'a', NOW - 10 * MIN, { ip: '2001:db8:1:2::9' }),
      played('u2', 't', 'a', NOW - 10 * MIN),
    ]);
    const before = h.svc.export('u1');
    expect(before).toMatchObject({
      userId: 'u1',
      consentCached: { analytics: true },
      profile: {
        counts: { plays: 1, completes: 1 },
        sessions: { count: 1 },
        topArtists: [{ id: 'a', plays: 1 }],
        network: '2001:db8:1::/48',
        segment: 'new',
      },
    });
    const pseudonym = (before as { pseudonym: string }).pseudonym;
    h.svc.forget('u1');
    expect(h.svc.user('u1')).toBeUndefined();
    expect(h.svc.export('u1')).toEqual({ userId: 'u1', consentCached: null, profile: null });
    expect(JSON.stringify(h.svc.stateForAudit())).not.toContain(pseudonym);
    expect(h.svc.segmentUsers('new')).toEqual(['u2']);
    expect(h.svc.stats().trackedUsers).toBe(1);
  });

  it('bounds the users it tracks (least recently active go first) and reports its size', async () => {
    const h = harness({ limits: { maxUsers: 50 } });
    await h.feed(Array.from({ length: 200 }, (_, i) => played(`u${i}`, 't', 'a', NOW - HOUR + i * 1000)));
    const stats = h.svc.stats();
    expect(stats.trackedUsers).toBe(50);
    expect(stats.approxBytes).toBeGreaterThan(0);
    expect(h.svc.user('u199')).toBeDefined();
    expect(h.svc.user('u0')).toBeUndefined();
    expect(h.svc.segmentUsers('new')!.length).toBe(50);
    const text = await h.registry.metrics();
    expect(text).toMatch(/backbeat_analytics_tracked_users 50/);
    expect(text).toMatch(/backbeat_analytics_evictions_total\{kind="users"} 150/);
    expect(text).toMatch(/backbeat_analytics_events_folded_total\{type="track.played"} 200/);
    expect(text).toMatch(/backbeat_analytics_state_bytes \d+/);
  });

  it('the overview counts live events per second (replayed ones only in the total)', async () => {
    const h = harness();
    await h.feed(
      Array.from({ length: 30 }, (_, i) => played(`u${i}`, 't', 'a', NOW - 10 * DAY)),
      true,
    );
    await h.feed(Array.from({ length: 50 }, (_, i) => played(`v${i}`, `t${i % 3}`, 'a', NOW - MIN)));
    h.clock.tick(1000);
    const o = h.svc.overviewPart();
    expect(o.events).toEqual({ total: 80, perSecond: 5 });
    expect(Math.abs(o.activeUsers - 50)).toBeLessThanOrEqual(2); // HyperLogLog, 2^12 registers
    expect(o.topTracks.map((t) => t.plays)).toEqual([17, 17, 16]);
  });

  it('query results are reused for queryCacheMs', async () => {
    const h = harness();
    await h.feed([played('u1', 't1', 'a', NOW - MIN)]);
    expect(h.svc.trending('track', '1h', 5).items.length).toBe(1);
    await h.feed([played('u1', 't2', 'a', NOW - MIN)]);
    expect(h.svc.trending('track', '1h', 5).items.length).toBe(1);
    h.clock.tick(1000);
    expect(h.svc.trending('track', '1h', 5).items.length).toBe(2);
    expect(h.svc.trending('track', '1h', 1).items.length).toBe(1);
  });
});
