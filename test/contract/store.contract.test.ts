/**
 * The Store contract (src/core/store/port.ts) for every engine in stores.ts: SQLite in a
 * temp dir, PostgreSQL in a fresh schema of TEST_DATABASE_URL. Each test gets its own
 * space and a ManualClock, so leases expire and `notBefore` arrives by ticking, not
 * sleeping. Engine-specific checks (SQLite file bytes after erasure, PostgreSQL
 * connection errors, the factory) follow the shared suite.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/core/observability/index.ts';
import { mulberry32 } from '../../src/core/random/index.ts';
import {
  MIGRATIONS,
  SETTLED_STATES,
  SqliteStore,
  StoreUnavailableError,
  erasureHashMatches,
  openStore,
  type DeviceRegistration,
  type Platform,
  type RecipientState,
  type Store,
} from '../../src/core/store/index.ts';
import { ManualClock } from '../../src/core/time/index.ts';
import { storeFactories, type StoreSpace } from './stores.ts';

const T0 = Date.UTC(2026, 5, 1, 12);
const LEASE = 30_000;
const logger = createLogger('silent');

const device = (
  userId: string,
  n: number,
  platform: Platform = 'ios',
  topics?: string[],
): DeviceRegistration =>
  platform === 'web'
    ? {
        userId,
        platform,
        subscription: {
          endpoint: `https://push.example/${userId}/${n}`,
          keys: { p256dh: `p-${n}`, auth: `a-${n}` },
        },
        ...(topics ? { topics } : {}),
      }
    : { userId, platform, token: `${platform}-${userId}-${n}`, ...(topics ? { topics } : {}) };

const pendingFor = (userId: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ userId, deviceId: `d-${userId}-${i}`, platform: 'ios' as const }));

describe.each(storeFactories)('Store contract: $name', (f) => {
  let space: StoreSpace;
  let clock: ManualClock;
  let store: Store;
  beforeEach(async () => {
    space = await f.space();
    clock = new ManualClock(T0);
    store = await space.open(clock);
  });
  afterEach(() => space.dispose());

  it('registers a device once: a re-registration returns the same id and updates it', async () => {
    const ios = await store.devices.register({ ...device('u1', 1), locale: 'en-US', topics: ['news'] });
    expect(ios.created).toBe(true);
    clock.tick(1000);
    expect(
      await store.devices.register({
        ...device('u1', 1),
        timezone: 'Europe/Paris',
        topics: ['news', 'jazz'],
      }),
    ).toEqual({ id: ios.id, created: false });
    const web = await store.devices.register(device('u1', 2, 'web'));
    const moved = {
      ...device('u1', 2, 'web'),
      subscription: { endpoint: 'https://push.example/u1/2', keys: { p256dh: 'p-new', auth: 'a-new' } },
    };
    expect(await store.devices.register(moved)).toEqual({ id: web.id, created: false });

    const list = await store.devices.listByUser('u1');
    expect(list.map((d) => d.id)).toEqual([ios.id, web.id]);
    expect(list[0]).toEqual({
      id: ios.id,
      userId: 'u1',
      platform: 'ios',
      locale: 'en-US',
      timezone: 'Europe/Paris',
      topics: ['news', 'jazz'],
      createdAt: T0,
      updatedAt: T0 + 1000,
    });
    expect(JSON.stringify(list)).not.toMatch(/ios-u1-1|push\.example|p-new/);
    expect(await store.devices.get(web.id)).toMatchObject({
      platform: 'web',
      subscription: moved.subscription,
    });
    expect(await store.devices.count()).toBe(2);
    // The token now belongs to another user: the same device moves, nothing duplicates.
    expect(await store.devices.register(device('u1', 1))).toEqual({ id: ios.id, created: false });
    expect(await store.devices.register({ ...device('u1', 1), userId: 'u2' })).toEqual({
      id: ios.id,
      created: false,
    });
    expect((await store.devices.listByUser('u1')).map((d) => d.id)).toEqual([web.id]);
    expect((await store.devices.listByUser('u2'))[0]).toMatchObject({
      id: ios.id,
      topics: ['news', 'jazz'],
      locale: 'en-US',
    });
    await expect(store.devices.register({ userId: 'u1', platform: 'android' })).rejects.toThrow(/token/);
    await expect(store.devices.register({ userId: 'u1', platform: 'web', token: 'x' })).rejects.toThrow(
      /subscription/,
    );
  });

  it('keeps users apart, and lists tokens only for sending', async () => {
    const a = await store.devices.registerMany([
      device('alice', 1),
      device('alice', 2, 'android'),
      device('alice', 3, 'web'),
    ]);
    const b = await store.devices.registerMany([device('bob', 1), device('bob', 1), device('bob', 2, 'web')]);
    expect(a.every((r) => r.created)).toBe(true);
    expect(b.map((r) => r.created)).toEqual([true, false, true]);
    expect(b[0]!.id).toBe(b[1]!.id);
    // Oldest first; registered in the same millisecond, they come in id order.
    expect((await store.devices.listByUser('alice')).map((d) => d.id)).toEqual(a.map((r) => r.id).sort());
    expect((await store.devices.listByUser('bob')).map((d) => d.userId)).toEqual(['bob', 'bob']);
    expect(await store.devices.listByUser('carol')).toEqual([]);
    const sending = await store.devices.listByUserForSending('alice');
    expect(sending.map((d) => ('token' in d ? d.token : d.subscription.endpoint)).sort()).toEqual([
      'android-alice-2',
      'https://push.example/alice/3',
      'ios-alice-1',
    ]);
    const both = await store.devices.listForUsers(['bob', 'alice', 'nobody']);
    expect(both.map((d) => d.userId).sort()).toEqual(['alice', 'alice', 'alice', 'bob', 'bob']);
    expect((await store.devices.getMany([a[0]!.id, 'missing', b[2]!.id])).map((d) => d.id).sort()).toEqual(
      [a[0]!.id, b[2]!.id].sort(),
    );
  });

  it('lists devices by topic in pages, following topic changes', async () => {
    const regs = Array.from({ length: 30 }, (_, i) =>
      device(
        `t${i}`,
        i,
        i % 2 ? 'android' : 'web',
        i < 25 ? ['jazz', ...(i % 3 ? [] : ['rock'])] : undefined,
      ),
    );
    const ids = (await store.devices.registerMany(regs)).map((r) => r.id);
    const jazz: string[] = [];
    let after: string | null = null;
    do {
      const page = await store.devices.listByTopic('jazz', { after, limit: 10 });
      expect(
        page.items.every((d) => d.topics.includes('jazz') && ('token' in d || d.subscription.keys.auth)),
      ).toBe(true);
      jazz.push(...page.items.map((d) => d.id));
      after = page.next;
    } while (after);
    expect(jazz.sort()).toEqual(ids.slice(0, 25).sort());
    expect((await store.devices.listByTopic('rock', { limit: 100 })).items).toHaveLength(9);
    await store.devices.register({ ...regs[0]!, topics: ['rock'] }); // replaces its topics
    await store.devices.register({ ...regs[1]!, topics: undefined }); // keeps them
    const again = (await store.devices.listByTopic('jazz', { limit: 100 })).items.map((d) => d.id);
    expect(again).not.toContain(ids[0]);
    expect(again).toContain(ids[1]);
    expect(again).toHaveLength(24);
    expect(await store.devices.listByTopic('classical')).toEqual({ items: [], next: null });
  });

  it('deletes dead tokens and devices by id', async () => {
    const [ios, web, keep] = await store.devices.registerMany([
      device('u1', 1, 'ios', ['news']),
      device('u1', 2, 'web', ['news']),
      device('u1', 3, 'android', ['news']),
    ]);
    expect(await store.devices.deleteDead('ios', 'ios-u1-1')).toBe(true);
    expect(await store.devices.deleteDead('ios', 'ios-u1-1')).toBe(false);
    expect(await store.devices.deleteDead('android', 'ios-u1-1')).toBe(false);
    expect(await store.devices.deleteDead('web', 'https://push.example/u1/2')).toBe(true);
    expect(await store.devices.get(ios!.id)).toBeNull();
    expect((await store.devices.listByUser('u1')).map((d) => d.id)).toEqual([keep!.id]);
    expect((await store.devices.listByTopic('news')).items.map((d) => d.id)).toEqual([keep!.id]);
    expect(await store.devices.delete(keep!.id)).toBe(true);
    expect(await store.devices.delete(web!.id)).toBe(false);
    expect(await store.devices.count()).toBe(0);
  });

  it('pages through 10,000 devices by id cursor, each once', async () => {
    const regs = Array.from({ length: 10_000 }, (_, i) =>
      device(`u${i % 97}`, i, (['ios', 'android', 'web'] as const)[i % 3]),
    );
    const first = await store.devices.registerMany(regs);
    expect(new Set(first.map((r) => r.id)).size).toBe(10_000);
    expect(first.every((r) => r.created)).toBe(true);
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const page = await store.devices.page({ after, limit: 777 });
      expect(page.items.every((d) => ('token' in d ? d.token : d.subscription.endpoint).length > 0)).toBe(
        true,
      );
      seen.push(...page.items.map((d) => d.id));
      after = page.next;
      pages++;
    } while (after);
    expect(pages).toBe(Math.ceil(10_000 / 777));
    expect(seen).toEqual([...first.map((r) => r.id)].sort());
    const again = await store.devices.registerMany(regs.slice(0, 1000));
    expect(again).toEqual(first.slice(0, 1000).map((r) => ({ id: r.id, created: false })));
    expect(await store.devices.count()).toBe(10_000);
  });

  it('round-trips preferences, consent and templates', async () => {
    expect(await store.preferences.get('u1')).toBeNull();
    const prefs = {
      timezone: 'Europe/Paris',
      locale: 'fr-FR',
      quietHours: { start: '22:00', end: '07:00' },
      optOut: ['marketing'],
    };
    expect(await store.preferences.put('u1', prefs)).toEqual({ userId: 'u1', ...prefs, updatedAt: T0 });
    clock.tick(5);
    await store.preferences.put('u1', { timezone: null, locale: 'en', quietHours: null, optOut: [] });
    expect(await store.preferences.get('u1')).toEqual({
      userId: 'u1',
      timezone: null,
      locale: 'en',
      quietHours: null,
      optOut: [],
      updatedAt: T0 + 5,
    });
    expect(await store.preferences.get('u2')).toBeNull();

    expect(await store.consent.get('u1')).toBeNull();
    await store.consent.put('u1', { analytics: true, personalization: false, marketing: true });
    expect(await store.consent.get('u1')).toEqual({
      userId: 'u1',
      analytics: true,
      personalization: false,
      marketing: true,
      updatedAt: T0 + 5,
    });
    await store.consent.put('u1', { analytics: false, personalization: true, marketing: false });
    expect(await store.consent.get('u1')).toMatchObject({
      analytics: false,
      personalization: true,
      marketing: false,
    });
    await store.preferences.put('u3', prefs);
    expect((await store.preferences.getMany(['u1', 'u2', 'u3', 'u1'])).map((p) => p.userId).sort()).toEqual([
      'u1',
      'u3',
    ]);
    expect((await store.consent.getMany(['u1', 'u2'])).map((c) => c.userId)).toEqual(['u1']);

    const locales = {
      en: { title: 'New from {{ artist }}', body: 'Listen now' },
      fr: { title: 'Nouveau : {{ artist }}', body: 'Écoutez' },
    };
    expect(await store.templates.put({ name: 'new-release', defaultLocale: 'en', locales })).toMatchObject({
      version: 1,
      locales,
    });
    clock.tick(5);
    const v2 = await store.templates.put({
      name: 'new-release',
      defaultLocale: 'fr',
      locales: { fr: locales.fr },
    });
    expect(v2).toEqual({
      name: 'new-release',
      defaultLocale: 'fr',
      locales: { fr: locales.fr },
      version: 2,
      createdAt: T0 + 5,
      updatedAt: T0 + 10,
    });
    await store.templates.put({ name: 'digest', defaultLocale: 'en', locales: { en: locales.en } });
    expect((await store.templates.list()).map((t) => t.name)).toEqual(['digest', 'new-release']);
    expect(await store.templates.get('new-release')).toEqual(v2);
    expect(await store.templates.delete('digest')).toBe(true);
    expect(await store.templates.get('digest')).toBeNull();
  });

  it('creates a job once per idempotencyKey, with its recipients', async () => {
    const request = { userIds: ['u1', 'u2'], title: 'Hi', nested: { n: 1, ok: true } };
    const first = await store.jobs.create({
      idempotencyKey: 'k1',
      request,
      recipients: [
        ...pendingFor('u1', 2),
        { userId: 'u2', deviceId: null, platform: null, state: 'skipped' },
      ],
    });
    expect(first.created).toBe(true);
    expect(first.job).toMatchObject({
      idempotencyKey: 'k1',
      request,
      status: 'queued',
      counters: { total: 3, pending: 2, skipped: 1, delivered: 0 },
    });
    const again = await store.jobs.create({
      idempotencyKey: 'k1',
      request: { other: true },
      recipients: pendingFor('u9', 5),
    });
    expect(again).toEqual({ job: first.job, created: false });
    const racing = await Promise.all(
      Array.from({ length: 5 }, () =>
        store.jobs.create({ idempotencyKey: 'k2', request: {}, recipients: pendingFor('u3', 1) }),
      ),
    );
    expect(racing.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(racing.map((r) => r.job.id)).size).toBe(1);
    expect((await store.jobs.get(racing[0]!.job.id))!.counters.total).toBe(1);
    expect(await store.jobs.getByIdempotencyKey('k1')).toEqual(first.job);
    const a = await store.jobs.create({ request: {} });
    clock.tick(1);
    const b = await store.jobs.create({ request: {}, status: 'scheduled' });
    expect(a.job.id).not.toBe(b.job.id);
    expect(await store.jobs.addRecipients(a.job.id, pendingFor('u4', 3))).toEqual({ first: 1, last: 3 });
    expect(await store.jobs.addRecipients(a.job.id, pendingFor('u5', 2))).toEqual({ first: 4, last: 5 });
    expect((await store.jobs.listRecipients(a.job.id, 3)).map((r) => [r.seq, r.userId])).toEqual([
      [4, 'u5'],
      [5, 'u5'],
    ]);
    await expect(store.jobs.addRecipients('no-such-job', pendingFor('u4', 1))).rejects.toThrow(/not found/);
    expect(await store.jobs.setStatus(a.job.id, 'running')).toBe(true);
    expect(await store.jobs.setStatus('no-such-job', 'running')).toBe(false);
    expect((await store.jobs.listByStatus(['running', 'scheduled'])).map((j) => j.id)).toEqual([
      a.job.id,
      b.job.id,
    ]);
  });

  it('records outcomes as they arrive and keeps the counters exact', async () => {
    const platforms = ['ios', 'android', 'web', 'ws'] as const;
    const recipients = Array.from({ length: 240 }, (_, i) => ({
      userId: `u${i % 60}`,
      deviceId: i % 17 === 0 ? null : `d${i}`,
      platform: i % 17 === 0 ? null : platforms[i % 4]!,
      variant: i % 2 ? 'A' : 'B',
      state: i % 17 === 0 ? ('skipped' as const) : i % 11 === 0 ? ('held' as const) : ('pending' as const),
      notBefore: i % 11 === 0 ? T0 + 3_600_000 : 0,
    }));
    const { job } = await store.jobs.create({ request: {}, recipients });
    const model = recipients.map((r) => r.state as RecipientState);
    const rand = mulberry32(9);
    const states: RecipientState[] = [
      'pending',
      'held',
      'sent',
      'delivered',
      'failed',
      'skipped',
      'expired',
      'invalid',
    ];
    for (let round = 0; round < 30; round++) {
      // Distinct recipients per round, recorded concurrently (one at a time, or a batch).
      const seqs = [...new Set(Array.from({ length: 20 }, () => 1 + Math.floor(rand() * 240)))];
      const outcomes = seqs.map((seq) => ({
        jobId: job.id,
        seq,
        state: states[Math.floor(rand() * states.length)]!,
        notBefore: T0 + 1000,
        error: 'e',
      }));
      const applied =
        round % 3 === 0
          ? await store.jobs.recordOutcomes(outcomes)
          : await Promise.all(outcomes.map((o) => store.jobs.recordOutcome(o)));
      outcomes.forEach((o, i) => {
        const settled = (SETTLED_STATES as readonly string[]).includes(model[o.seq - 1]!);
        expect(applied[i]).toBe(!settled);
        if (!settled) model[o.seq - 1] = o.state;
      });
    }
    const rows = await store.jobs.listRecipients(job.id, 0, 1000);
    expect(rows.map((r) => r.state)).toEqual(model);
    const count = (s: RecipientState) => model.filter((m) => m === s).length;
    expect((await store.jobs.get(job.id))!.counters).toEqual({
      total: 240,
      pending: count('pending'),
      held: count('held'),
      sent: count('sent'),
      delivered: count('delivered'),
      failed: count('failed'),
      skipped: count('skipped'),
      expired: count('expired'),
      invalidTokens: count('invalid'),
    });
    const cells = new Map<string, number>();
    for (const r of rows)
      cells.set(
        `${r.platform}|${r.variant}|${r.state}`,
        (cells.get(`${r.platform}|${r.variant}|${r.state}`) ?? 0) + 1,
      );
    const breakdown = await store.jobs.breakdown(job.id);
    expect(new Map(breakdown.map((b) => [`${b.platform}|${b.variant}|${b.state}`, b.count]))).toEqual(cells);
    expect(await store.jobs.recordOutcome({ jobId: job.id, seq: 999, state: 'delivered' })).toBe(false);
  });

  it('leases: nodes claiming at once never get the same recipient', async () => {
    const other = await space.open(clock); // a second node on the same database
    const { job } = await store.jobs.create({ request: {}, recipients: pendingFor('u', 300) });
    const { job: elsewhere } = await store.jobs.create({ request: {}, recipients: pendingFor('v', 10) });
    const owner = new Map<number, string>();
    for (;;) {
      const claims = await Promise.all(
        (['A', 'B', 'C', 'D'] as const).map((node, i) =>
          (i % 2 ? other : store).leases
            .claim({ jobId: job.id, nodeId: node, leaseMs: LEASE, limit: 13 })
            .then((rs) => ({ node, rs })),
        ),
      );
      if (claims.every((c) => c.rs.length === 0)) break;
      for (const { node, rs } of claims) {
        for (const r of rs) {
          expect(r.jobId).toBe(job.id);
          expect(owner.has(r.seq)).toBe(false);
          expect(r).toMatchObject({ leaseOwner: node, leaseUntil: T0 + LEASE });
          owner.set(r.seq, node);
        }
      }
    }
    expect(owner.size).toBe(300);
    expect(new Set(owner.values()).size).toBe(4);
    expect(
      (await other.leases.claim({ nodeId: 'B', leaseMs: LEASE, limit: 100 })).map((r) => r.jobId),
    ).toEqual(Array(10).fill(elsewhere.id));
  });

  it('leases: an expired lease is taken over and its old holder fenced off; renew and release', async () => {
    const other = await space.open(clock);
    const { job } = await store.jobs.create({ request: {}, recipients: pendingFor('u', 6) });
    expect(await store.leases.claim({ nodeId: 'A', leaseMs: LEASE, limit: 4 })).toHaveLength(4);
    expect(
      (await other.leases.claim({ nodeId: 'B', leaseMs: 2 * LEASE, limit: 10 })).map((r) => r.seq),
    ).toEqual([5, 6]);
    clock.tick(LEASE - 1);
    expect(await other.leases.claim({ nodeId: 'B', leaseMs: LEASE, limit: 10 })).toEqual([]);
    expect(await store.leases.renew('A', LEASE, [{ jobId: job.id, seq: 1 }])).toBe(1);
    clock.tick(1); // A died: its other leases end now
    const taken = await other.leases.claim({ nodeId: 'B', leaseMs: LEASE, limit: 10 });
    expect(taken.map((r) => r.seq)).toEqual([2, 3, 4]);
    expect(await store.jobs.recordOutcome({ jobId: job.id, seq: 2, state: 'delivered', nodeId: 'A' })).toBe(
      false,
    );
    expect(await other.jobs.recordOutcome({ jobId: job.id, seq: 2, state: 'delivered', nodeId: 'B' })).toBe(
      true,
    );
    expect(await store.jobs.recordOutcome({ jobId: job.id, seq: 1, state: 'failed', nodeId: 'A' })).toBe(
      true,
    );
    expect(await store.leases.renew('A', LEASE)).toBe(0);
    expect(await other.leases.release('B', [{ jobId: job.id, seq: 3 }])).toBe(1);
    expect((await store.leases.claim({ nodeId: 'A', leaseMs: LEASE, limit: 10 })).map((r) => r.seq)).toEqual([
      3,
    ]);
    expect(await other.leases.release('B')).toBe(3); // 4, 5, 6
    expect((await store.jobs.getRecipient({ jobId: job.id, seq: 4 }))!).toMatchObject({
      state: 'pending',
      leaseOwner: null,
      leaseUntil: null,
    });
    expect((await store.jobs.get(job.id))!.counters).toMatchObject({ pending: 4, delivered: 1, failed: 1 });
  });

  it('a recipient is not claimable before its notBefore', async () => {
    const { job } = await store.jobs.create({
      request: {},
      recipients: [
        { userId: 'u', deviceId: 'd1', platform: 'ios', state: 'held', notBefore: T0 + 5000 },
        { userId: 'u', deviceId: 'd2', platform: 'ios', notBefore: T0 + 1000 },
        { userId: 'u', deviceId: 'd3', platform: 'ios' },
        { userId: 'u', deviceId: null, platform: null, state: 'skipped' },
      ],
    });
    const claim = async () =>
      (await store.leases.claim({ jobId: job.id, nodeId: 'A', leaseMs: LEASE, limit: 10 })).map((r) => r.seq);
    expect(await claim()).toEqual([3]);
    // A retriable failure comes back only at its notBefore.
    expect(
      await store.jobs.recordOutcome({
        jobId: job.id,
        seq: 3,
        state: 'pending',
        notBefore: T0 + 2000,
        error: 'HTTP 503',
        nodeId: 'A',
      }),
    ).toBe(true);
    expect(await store.jobs.getRecipient({ jobId: job.id, seq: 3 })).toMatchObject({
      attempts: 1,
      lastError: 'HTTP 503',
      notBefore: T0 + 2000,
    });
    clock.tick(999);
    expect(await claim()).toEqual([]);
    clock.tick(1);
    expect(await claim()).toEqual([2]);
    clock.tick(1000);
    expect(await claim()).toEqual([3]);
    clock.tick(2999);
    expect(await claim()).toEqual([]);
    clock.tick(1);
    expect(await claim()).toEqual([1]);
  });

  it('counts experiment assignments, sends and opens per variant', async () => {
    for (let i = 0; i < 10; i++)
      await store.experiments.assign({
        experiment: 'e1',
        variant: i < 6 ? 'A' : 'B',
        userId: `u${i}`,
        notificationId: `n${i}`,
        sent: i % 2 === 0,
      });
    await store.experiments.assign({ experiment: 'e1', variant: 'B', userId: 'u0', notificationId: 'n0' }); // repeated: keeps A, stays sent
    await store.experiments.assign({ experiment: 'e2', variant: 'A', userId: 'u0', notificationId: 'x0' });
    expect(await store.experiments.markSent('n1')).toBe(true);
    expect(await store.experiments.markSent('n1')).toBe(false);
    expect(await store.experiments.markOpened('n1')).toBe(true);
    expect(await store.experiments.markOpened('n1')).toBe(false);
    expect(await store.experiments.markOpened('n7')).toBe(true);
    expect(await store.experiments.markOpened('unknown')).toBe(false);
    expect(await store.experiments.results('e1')).toEqual([
      { variant: 'A', recipients: 6, sent: 4, opened: 1 },
      { variant: 'B', recipients: 4, sent: 2, opened: 1 },
    ]);
    expect(await store.experiments.results('none')).toEqual([]);
  });

  it('exports and erases one user, leaving another intact', async () => {
    for (const u of ['victim', 'keeper']) {
      await store.devices.registerMany([device(u, 1, 'ios', ['jazz']), device(u, 2, 'web')]);
      await store.preferences.put(u, { timezone: 'UTC', locale: 'en', quietHours: null, optOut: [u] });
      await store.consent.put(u, { analytics: true, personalization: true, marketing: false });
      await store.experiments.assign({ experiment: 'e', variant: 'A', userId: u, notificationId: `n-${u}` });
    }
    const { job } = await store.jobs.create({
      request: { userIds: ['victim', 'keeper'], data: { by: 'victim' } },
      recipients: [...pendingFor('victim', 3), ...pendingFor('keeper', 2)],
    });
    await store.jobs.recordOutcome({ jobId: job.id, seq: 1, state: 'delivered' });
    const keeperBefore = await store.exportUser('keeper');

    const exported = await store.exportUser('victim');
    expect(exported.devices.map((d) => ('token' in d ? d.token : d.subscription.endpoint)).sort()).toEqual([
      'https://push.example/victim/2',
      'ios-victim-1',
    ]);
    expect(exported).toMatchObject({
      preferences: { optOut: ['victim'] },
      consent: { analytics: true },
      experiments: [{ notificationId: 'n-victim' }],
    });
    expect(exported.recipients.map((r) => r.state)).toEqual(['delivered', 'pending', 'pending']);
    expect(exported.jobs.map((j) => j.id)).toEqual([job.id]);

    expect(await store.eraseUser('victim')).toEqual({
      devices: 2,
      preferences: 1,
      consent: 1,
      recipients: 3,
      experiments: 1,
      jobs: 1,
    });
    expect(await store.exportUser('victim')).toEqual({
      userId: 'victim',
      devices: [],
      preferences: null,
      consent: null,
      recipients: [],
      experiments: [],
      jobs: [],
    });
    const keeperAfter = await store.exportUser('keeper');
    const { jobs: jobsBefore, ...restBefore } = keeperBefore;
    const { jobs: jobsAfter, ...restAfter } = keeperAfter;
    expect(restAfter).toEqual(restBefore);
    expect(restAfter.devices).toHaveLength(2);
    expect(restAfter.recipients).toHaveLength(2);
    expect(jobsBefore[0]!.request).toEqual({ userIds: ['victim', 'keeper'], data: { by: 'victim' } });
    expect(jobsAfter[0]!.request).toEqual({ userIds: ['keeper'], data: {} });
    // The victim's two due recipients will never be sent: counted as skipped, so the job can finish.
    expect(jobsAfter[0]!.counters).toMatchObject({ total: 5, delivered: 1, pending: 2, skipped: 2 });
    expect((await store.devices.listByTopic('jazz')).items.map((d) => d.userId)).toEqual(['keeper']);
    expect(await store.experiments.results('e')).toEqual([
      { variant: 'A', recipients: 1, sent: 0, opened: 0 },
    ]);
  });

  it('keeps GDPR erasure receipts: one pending per user, progress per store, only a salted hash of the user once done', async () => {
    const concurrent = await Promise.all(
      [1, 2, 3, 4].map(() => store.erasures.begin('gone-user', ['streaming', 'store'])),
    );
    expect(new Set(concurrent.map((c) => c.receipt.id)).size).toBe(1);
    expect(concurrent.filter((c) => c.created)).toHaveLength(1);
    const { receipt } = concurrent[0]!;
    expect(receipt).toMatchObject({
      userId: 'gone-user',
      userHash: null,
      status: 'pending',
      stores: { streaming: 'pending', store: 'pending' },
      createdAt: T0,
      completedAt: null,
    });
    clock.tick(10);
    const other = await store.erasures.begin('other-user', ['store']);
    expect((await store.erasures.listPending()).map((r) => r.id)).toEqual([receipt.id, other.receipt.id]);
    clock.tick(10);
    expect(await store.erasures.markStore(receipt.id, 'streaming', 'done')).toMatchObject({
      stores: { streaming: 'done', store: 'pending' },
      updatedAt: T0 + 20,
    });
    expect(await store.erasures.markStore(receipt.id, 'analytics', 'pending')).toMatchObject({
      stores: { streaming: 'done', store: 'pending', analytics: 'pending' },
    });
    const done = (await store.erasures.complete(receipt.id))!;
    expect(done).toMatchObject({
      id: receipt.id,
      userId: null,
      status: 'done',
      stores: { streaming: 'done', store: 'done', analytics: 'done' },
      completedAt: T0 + 20,
    });
    expect(erasureHashMatches(done.userHash!, 'gone-user')).toBe(true);
    expect(erasureHashMatches(done.userHash!, 'other-user')).toBe(false);
    expect(await store.erasures.get(receipt.id)).toEqual(done);
    expect(await store.erasures.complete(receipt.id)).toEqual(done); // idempotent
    expect((await store.erasures.listPending()).map((r) => r.id)).toEqual([other.receipt.id]);
    // Erased again later: a new receipt.
    const again = await store.erasures.begin('gone-user', ['store']);
    expect(again.created).toBe(true);
    expect(again.receipt.id).not.toBe(receipt.id);
    await store.erasures.complete(again.receipt.id);
    await store.erasures.complete(other.receipt.id);
    const raw = JSON.stringify(await space.query('SELECT * FROM erasures'));
    expect(raw).not.toContain('gone-user');
    expect(raw).not.toContain('other-user');
    expect(await store.erasures.get('no-such-receipt')).toBeNull();
    expect(await store.erasures.markStore('no-such-receipt', 'store', 'done')).toBeNull();
    expect(await store.erasures.complete('no-such-receipt')).toBeNull();
  });

  it('applies each migration once, and nothing again on reopen', async () => {
    const { id } = await store.devices.register(device('u1', 1));
    await store.close();
    await store.close(); // idempotent
    for (let i = 0; i < 2; i++) {
      store = await space.open(clock);
      expect((await store.devices.get(id))?.userId).toBe('u1');
      await store.close();
    }
    const applied = await space.query(
      'SELECT version, COUNT(*) AS n FROM schema_migrations GROUP BY version ORDER BY version',
    );
    expect(applied.map((r) => [Number(r['version']), Number(r['n'])])).toEqual(
      MIGRATIONS.map((m) => [m.version, 1]),
    );
  });

  it.runIf(f.sharedByNodes)('nodes starting at once apply each migration once', async () => {
    const fresh = await f.space();
    try {
      const nodes = await Promise.all([1, 2, 3].map(() => fresh.open(clock)));
      await Promise.all(nodes.map((n, i) => n.devices.register(device('u', i))));
      expect(await nodes[0]!.devices.count()).toBe(3);
      const applied = await fresh.query(
        'SELECT version, COUNT(*) AS n FROM schema_migrations GROUP BY version',
      );
      expect(applied.map((r) => Number(r['n']))).toEqual(MIGRATIONS.map(() => 1));
    } finally {
      await fresh.dispose();
    }
  });

  it('reports health, and unhealthy after close', async () => {
    expect(await store.health()).toMatchObject({ ok: true, engine: f.name });
    await store.close();
    expect((await store.health()).ok).toBe(false);
  });
});

describe('SqliteStore erasure', () => {
  it("leaves the user's id in no byte of the database files", async () => {
    const space = await storeFactories.find((f) => f.name === 'sqlite')!.space();
    try {
      const store = (await space.open(new ManualClock(T0))) as SqliteStore;
      const victim = 'victim-7c1e9d55-erasure';
      for (const u of [victim, 'keeper-4b2a']) {
        await store.devices.registerMany(
          Array.from({ length: 40 }, (_, i) => device(u, i, i % 2 ? 'ios' : 'web', ['jazz'])),
        );
        await store.preferences.put(u, { timezone: null, locale: null, quietHours: null, optOut: [] });
        await store.consent.put(u, { analytics: true, personalization: true, marketing: true });
        await store.experiments.assign({
          experiment: 'e',
          variant: 'A',
          userId: u,
          notificationId: `n-${u}`,
        });
        await store.jobs.create({ request: { userIds: [u] }, recipients: pendingFor(u, 200) });
      }
      const dir = dirname(store.path);
      // The database, its WAL and shared-memory index: every file SQLite keeps for the store.
      const bytes = () =>
        Buffer.concat(
          readdirSync(dir)
            .filter((n) => n.startsWith('store.db'))
            .map((n) => readFileSync(join(dir, n))),
        );
      await store.checkpoint();
      expect(bytes().includes(victim)).toBe(true); // the check below can fail
      await store.eraseUser(victim);
      const after = bytes();
      expect(after.includes(victim)).toBe(false);
      expect(after.includes('keeper-4b2a')).toBe(true);
    } finally {
      await space.dispose();
    }
  });
});

describe('opening a store', () => {
  it('names the database in connection errors, never the password', async () => {
    const err = await openStore({
      databaseUrl: 'postgres://backbeat:s3cret-pw@127.0.0.1:1/app',
      dataDir: '/nonexistent',
      logger,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toContain('postgres://backbeat:***@127.0.0.1:1/app');
    expect(JSON.stringify({ m: (err as Error).message, s: (err as Error).stack })).not.toContain('s3cret-pw');
  });

  it('names the file when the SQLite store cannot be opened', async () => {
    const space = await storeFactories.find((f) => f.name === 'sqlite')!.space();
    const store = (await space.open(new ManualClock(T0))) as SqliteStore;
    const file = join(dirname(store.path), 'not-a-dir');
    writeFileSync(file, 'x');
    try {
      await expect(SqliteStore.open({ dir: file, logger })).rejects.toThrow(/SQLite .*not-a-dir/);
    } finally {
      await space.dispose();
    }
  });

  it('chooses PostgreSQL when a database URL is given, else SQLite under the data dir', async () => {
    const sqliteSpace = await storeFactories.find((f) => f.name === 'sqlite')!.space();
    const pgSpace = await storeFactories.find((f) => f.name === 'postgres')!.space();
    try {
      const embedded = (await sqliteSpace.open(new ManualClock(T0))) as SqliteStore;
      const dataDir = dirname(embedded.path);
      await embedded.close();
      const local = await openStore({ dataDir, logger });
      expect(local.engine).toBe('sqlite');
      await local.close();
      await pgSpace.open(new ManualClock(T0)); // creates the schema
      const remote = await openStore({ databaseUrl: pgSpace.url!, dataDir, logger });
      expect(remote.engine).toBe('postgres');
      expect((await remote.health()).detail).toContain('127.0.0.1');
      await remote.close();
    } finally {
      await sqliteSpace.dispose();
      await pgSpace.dispose();
    }
  });
});
