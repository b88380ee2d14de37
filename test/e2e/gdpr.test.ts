/**
 * GDPR end to end on the embedded engines (SPEC §7, issue #10): a real App (SQLite store,
 * SQLite event log, DLQ) with a GdprService wired over its stores as app.ts does, and the
 * GDPR routes on a small fastify. Proves: export holds every record about the user and
 * nothing of anyone else; after an erasure no file under DATA_DIR holds the user's id
 * (every byte of every file read), everyone else's events, dead letters and
 * recommendations are untouched; erasure is idempotent and resumes after a restart
 * mid-way; a user token reads and changes only its own consent and export; bad consent
 * bodies get 400 naming the field and change nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GdprService } from '../../src/analytics/gdpr/index.ts';
import { BackbeatError } from '../../src/core/errors/index.ts';
import type { EventHandler, StreamEvent } from '../../src/streaming/index.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';
import { checkpointAll, eventsOf, gdprFor, gdprHttp, postEvents, scan } from './gdpr-fixtures.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON read off the wire
type Json = Record<string, any>;

/** Dead-letters every like of the track `poison` (non-retriable), so users have dead letters to export and erase. */
const poison: EventHandler = {
  name: 'poison',
  types: new Set(['track.liked']),
  handle(e: StreamEvent) {
    if (e.data['trackId'] === 'poison') throw new BackbeatError('BAD_REQUEST', 'poisoned like');
  },
};

const VICTIM = 'victim-5f0c2e9a';
const KEEPERS = ['keeper-a1', 'keeper-b2', 'keeper-c3', 'keeper-d4'];
const poisonLike = (userId: string) => ({
  type: 'track.liked',
  userId,
  ts: Date.now() - 1000,
  data: { trackId: 'poison', artistId: 'art-poison' },
});

describe('GDPR on the embedded engines', () => {
  let srv: TestServer;
  let gdpr: GdprService;
  let http: Awaited<ReturnType<typeof gdprHttp>>;
  let admin: string;
  let gdprToken: string;
  const req = async (method: string, path: string, token: string | undefined, body?: unknown) => {
    const res = await fetch(`${http.url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };

  beforeAll(async () => {
    srv = await startTestServer({}, { eventHandlers: [poison] });
    gdpr = gdprFor(srv.app);
    http = await gdprHttp(srv.app, gdpr);
    admin = await srv.token({ sub: 'ops', scope: 'admin' });
    gdprToken = await srv.token({ sub: 'dpo', scope: 'gdpr' });
    await postEvents(srv.url, admin, [...eventsOf(VICTIM, 60, 1), poisonLike(VICTIM)]);
    for (const [i, k] of KEEPERS.entries())
      await postEvents(srv.url, admin, [...eventsOf(k, 45, i + 2), poisonLike(k)]);
    await srv.app.streaming.caughtUp();
    const push = srv.app.push!;
    for (const u of [VICTIM, KEEPERS[0]!]) {
      await push.registerDevice({
        userId: u,
        platform: 'android',
        token: `fcm-token-of-${u}`,
        locale: 'en-US',
      });
      await push.putPreferences(u, {
        timezone: 'Europe/Paris',
        locale: 'fr-FR',
        quietHours: { start: '22:00', end: '07:00' },
        optOut: ['marketing'],
      });
      expect(
        (
          await req('PUT', `/v1/users/${u}/consent`, gdprToken, {
            analytics: true,
            personalization: true,
            marketing: false,
          })
        ).status,
      ).toBe(200);
    }
  });
  afterAll(async () => {
    await gdpr?.close();
    await http?.server.close();
    await srv?.close();
  });

  it('consent: CONSENT_DEFAULT for a user never asked; a user token reads and changes only its own', async () => {
    expect(await req('GET', '/v1/users/never-asked/consent', gdprToken)).toEqual({
      status: 200,
      body: { analytics: true, personalization: true, marketing: true },
    });
    const denied = gdprFor(srv.app, { consentDefault: 'denied' });
    expect(await denied.consent('never-asked')).toEqual({
      analytics: false,
      personalization: false,
      marketing: false,
    });
    const alice = await srv.token({ sub: 'alice', channels: [], publish: [] });
    expect(
      await req('PUT', '/v1/users/alice/consent', alice, {
        analytics: false,
        personalization: true,
        marketing: false,
      }),
    ).toEqual({
      status: 200,
      body: { analytics: false, personalization: true, marketing: false },
    });
    expect((await req('GET', '/v1/users/alice/consent', alice)).body).toEqual({
      analytics: false,
      personalization: true,
      marketing: false,
    });
    for (const [method, path, body] of [
      ['PUT', `/v1/users/${VICTIM}/consent`, { analytics: true, personalization: true, marketing: true }],
      ['GET', `/v1/users/${VICTIM}/consent`, undefined],
      ['GET', `/v1/users/${VICTIM}/export`, undefined],
      ['DELETE', '/v1/users/alice', undefined],
      ['DELETE', `/v1/users/${VICTIM}`, undefined],
      ['GET', '/v1/erasures/00000000-0000-0000-0000-000000000000', undefined],
    ] as const) {
      const r = await req(method, path, alice, body);
      expect({ path, method, status: r.status, code: r.body['error']?.code }).toEqual({
        path,
        method,
        status: 403,
        code: 'forbidden',
      });
    }
    expect((await req('GET', '/v1/users/alice/export', alice)).status).toBe(200);
    expect((await req('GET', '/v1/users/alice/consent', undefined)).status).toBe(401);
    // A token with another scope is not enough either.
    const reader = await srv.token({ sub: 'svc', scope: 'analytics:read push:send' });
    expect((await req('GET', `/v1/users/${VICTIM}/export`, reader)).status).toBe(403);
    // The victim's consent was not changed by any of that.
    expect((await req('GET', `/v1/users/${VICTIM}/consent`, gdprToken)).body).toEqual({
      analytics: true,
      personalization: true,
      marketing: false,
    });
    expect((await req('GET', '/v1/erasures/00000000-0000-0000-0000-000000000000', gdprToken)).status).toBe(
      404,
    );
  });

  it('bad consent bodies get 400 naming the field, and change nothing', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ analytics: true, personalization: true }, /marketing/],
      [{ analytics: 'true', personalization: true, marketing: true }, /analytics/],
      [{ analytics: 1, personalization: true, marketing: true }, /analytics/],
      [{ analytics: true, personalization: null, marketing: true }, /personalization/],
      [{ analytics: true, personalization: true, marketing: true, tracking: true }, /tracking/],
      [[true, true, true], /object/],
      ['{"analytics":', /JSON|body/i],
    ];
    for (const [body, field] of cases) {
      const r = await req('PUT', `/v1/users/${KEEPERS[0]}/consent`, gdprToken, body);
      expect({ body, status: r.status, code: r.body['error']?.code }).toEqual({
        body,
        status: 400,
        code: 'bad_request',
      });
      expect(r.body['error'].message).toMatch(field);
    }
    expect(
      (
        await req('PUT', '/v1/users/bad%20id/consent', gdprToken, {
          analytics: true,
          personalization: true,
          marketing: true,
        })
      ).status,
    ).toBe(400);
    expect((await req('GET', `/v1/users/${KEEPERS[0]}/consent`, gdprToken)).body).toEqual({
      analytics: true,
      personalization: true,
      marketing: false,
    });
  });

  it('export: every record about the user (events, listening, model, dead letters, devices, preferences, consent), nothing of another user', async () => {
    const r = await req('GET', `/v1/users/${VICTIM}/export`, gdprToken);
    expect(r.status).toBe(200);
    const doc = r.body;
    expect(doc).toMatchObject({
      userId: VICTIM,
      consent: { asked: true, analytics: true, personalization: true, marketing: false },
    });
    const events = doc['streaming'].events as Json[];
    expect(events).toHaveLength(61);
    expect(events.every((e) => e['userId'] === VICTIM)).toBe(true);
    expect(new Set(events.map((e) => e['type']))).toEqual(
      new Set(['track.played', 'track.liked', 'playlist.track_added', 'app.opened']),
    );
    expect(doc['streaming'].listening).toMatchObject({ plays: 30, likes: 11 });
    expect(doc['streaming'].recommendations.known).toBe(true);
    expect(doc['streaming'].recommendations.history.length).toBeGreaterThan(0);
    expect(doc['streaming'].deadLetters.map((d: Json) => d['event'].userId)).toEqual([VICTIM]);
    expect(doc['store'].devices).toHaveLength(1);
    expect(doc['store'].devices[0]).toMatchObject({ userId: VICTIM, token: `fcm-token-of-${VICTIM}` });
    expect(doc['store'].preferences).toMatchObject({ timezone: 'Europe/Paris', optOut: ['marketing'] });
    expect(doc['store'].consent).toMatchObject({ analytics: true, marketing: false });
    expect(doc['push']).toMatchObject({ sendTime: { timezone: 'Europe/Paris' } });
    const text = JSON.stringify(doc);
    for (const k of KEEPERS) expect(text).not.toContain(k);
    expect(text).not.toContain('fcm-token-of-keeper');
  });

  it('erasure: idempotent while pending; then no file under DATA_DIR holds the id, and everyone else is untouched', async () => {
    const streaming = srv.app.streaming;
    const dataDir = srv.app.config.dataDir;
    const keptBefore = new Map<string, number>();
    for (const k of KEEPERS) keptBefore.set(k, (await streaming.exportUser(k)).events.length);
    const recsBefore = await Promise.all(
      KEEPERS.map((k) => streaming.recommend(k, 10).then((r) => r.items.map((i) => i.trackId))),
    );
    const listeningBefore = await Promise.all(KEEPERS.map((k) => streaming.userListening(k)));
    const deadBefore = await streaming.deadLetterCount();
    const victimEvents = (await streaming.exportUser(VICTIM)).events.length;
    checkpointAll(dataDir); // the victim's bytes now sit in the database files' pages, not only in WALs
    const before = scan(dataDir, VICTIM);
    // The check below can fail: the id is in the store, the event log and the dead letters.
    expect(before.hits.map((h) => h.slice(dataDir.length)).sort()).toEqual([
      '/store.db',
      '/streaming/dead-letters.db',
      '/streaming/events.db',
    ]);

    // Two requests at once: one receipt (idempotent while pending).
    const [a, b] = await Promise.all([gdpr.erase(VICTIM), gdpr.erase(VICTIM)]);
    expect(a.receiptId).toBe(b.receiptId);
    const viaHttp = await req('DELETE', `/v1/users/${VICTIM}`, gdprToken);
    expect(viaHttp.status).toBe(202);
    let receipt: Json = {};
    await until(async () => {
      receipt = (await req('GET', `/v1/erasures/${viaHttp.body['receiptId']}`, gdprToken)).body;
      return receipt['status'] === 'done';
    }, 'erasure done');
    await gdpr.idle();
    expect(receipt).toEqual({ status: 'done', stores: { streaming: 'done', push: 'done', store: 'done' } });
    expect((await req('GET', `/v1/erasures/${a.receiptId}`, gdprToken)).body['status']).toBe('done');

    const after = scan(dataDir, VICTIM);
    console.info(
      `GDPR embedded: erased ${victimEvents} events of the victim; scanned ${after.files} files, ${after.bytes} bytes under DATA_DIR: hits before ${before.hits.length} (${before.hits.map((h) => h.slice(dataDir.length)).join(', ')}), after ${after.hits.length}`,
    );
    expect(after.hits).toEqual([]);

    // Everyone else: every event, dead letter, listening history and recommendation as before.
    for (const k of KEEPERS) expect((await streaming.exportUser(k)).events.length).toBe(keptBefore.get(k));
    expect([...keptBefore.values()].reduce((s, n) => s + n, 0)).toBe(KEEPERS.length * 46);
    expect(
      await Promise.all(
        KEEPERS.map((k) => streaming.recommend(k, 10).then((r) => r.items.map((i) => i.trackId))),
      ),
    ).toEqual(recsBefore);
    expect(await Promise.all(KEEPERS.map((k) => streaming.userListening(k)))).toEqual(listeningBefore);
    expect(await streaming.deadLetterCount()).toBe(deadBefore - 1);
    expect((await srv.app.store!.exportUser(KEEPERS[0]!)).devices).toHaveLength(1);
    // And the victim: nothing left to export.
    const doc = await gdpr.export(VICTIM);
    expect(doc).toMatchObject({
      consent: { asked: false },
      streaming: {
        events: [],
        listening: null,
        sessions: [],
        deadLetters: [],
        recommendations: { known: false, history: [] },
      },
      store: { devices: [], preferences: null, consent: null, recipients: [], experiments: [], jobs: [] },
    });

    // Idempotent once done too: a new receipt, done again, nothing else changes.
    const again = await gdpr.erase(VICTIM);
    expect(again.receiptId).not.toBe(a.receiptId);
    await until(async () => (await gdpr.erasure(again.receiptId))?.status === 'done', 'second erasure done');
    await gdpr.idle();
    expect(scan(dataDir, VICTIM).hits).toEqual([]);
    for (const k of KEEPERS) expect((await streaming.exportUser(k)).events.length).toBe(keptBefore.get(k));
  });
});

describe('GDPR erasure across a restart', () => {
  it(
    'a receipt left with stores pending is finished by the restarted node on the same DATA_DIR',
    { timeout: 60_000 },
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'bb-gdpr-restart-'));
      const victim = 'victim-restart-9d1b';
      const keeper = 'keeper-restart-33aa';
      try {
        const first = await startTestServer({ DATA_DIR: dataDir });
        const admin = await first.token({ sub: 'ops', scope: 'admin' });
        await postEvents(first.url, admin, [...eventsOf(victim, 30), ...eventsOf(keeper, 30, 3)]);
        await first.app.streaming.caughtUp();
        await first.app.push!.registerDevice({
          userId: victim,
          platform: 'android',
          token: `fcm-token-of-${victim}`,
        });
        await first.app.store!.consent.put(victim, {
          analytics: true,
          personalization: false,
          marketing: false,
        });
        const keeperPlays = (await first.app.streaming.userListening(keeper)).plays;
        // The node got as far as the stream, then died: the receipt says so.
        const { receipt } = await first.app.store!.erasures.begin(victim, ['streaming', 'push', 'store']);
        await first.app.streaming.eraseUser(victim);
        await first.app.store!.erasures.markStore(receipt.id, 'streaming', 'done');
        await first.app.close({ drain: false });

        const second = await startTestServer({ DATA_DIR: dataDir });
        try {
          // The restarted node resumes the pending receipt by itself (App.start → GdprService.resume).
          const gdpr = second.app.gdpr!;
          await until(
            async () => (await gdpr.erasure(receipt.id))?.status === 'done',
            'receipt finished after the restart',
          );
          expect(await gdpr.erasure(receipt.id)).toMatchObject({
            status: 'done',
            stores: { streaming: 'done', push: 'done', store: 'done' },
          });
          expect(await second.app.store!.exportUser(victim)).toMatchObject({ devices: [], consent: null });
          // State rebuilt from the log on restart: the keeper's plays all there, the victim's none.
          await second.app.streaming.caughtUp();
          expect((await second.app.streaming.userListening(keeper)).plays).toBe(keeperPlays);
          expect(await second.app.streaming.userListening(victim)).toMatchObject({
            plays: 0,
            history: [],
            session: null,
          });
          await gdpr.idle();
          const s = scan(dataDir, victim);
          console.info(`GDPR restart: scanned ${s.files} files, ${s.bytes} bytes; hits ${s.hits.length}`);
          expect(s.hits).toEqual([]);
          expect(scan(dataDir, keeper).hits.length).toBeGreaterThan(0);
        } finally {
          await second.close();
          await first.close();
        }
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );
});
