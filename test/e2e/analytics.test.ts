/**
 * Listening analytics end to end (SPEC §7, issue #10): events go through the real intake
 * (schema validation), the durable SQLite event log and the stream processor into the
 * AnalyticsService, with consent read from the real SQLite store; the queries are served
 * by `analyticsRoutes` on a fastify app with the project's error mapping and a real
 * TokenVerifier. Restarting rebuilds the same state from the log.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnalyticsService, type ConsentFlags } from '../../src/analytics/index.ts';
import { signHs256, TokenVerifier } from '../../src/core/auth/index.ts';
import { Metrics } from '../../src/core/observability/index.ts';
import { openStore, type Store } from '../../src/core/store/index.ts';
import { ManualClock } from '../../src/core/time/index.ts';
import { installErrorMapping } from '../../src/http/errors.ts';
import { analyticsRoutes } from '../../src/http/routes/analytics.ts';
import {
  EventIngest,
  musicEventRegistry,
  SqliteDeadLetterStore,
  SqliteEventLog,
  StreamingMetrics,
  StreamProcessor,
} from '../../src/streaming/index.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2026, 0, 20, 12);
const SECRET = 'analytics-e2e-secret-0123456789abcdef';
const logger = pino({ level: 'silent' });

let dir: string;
let store: Store;
let log: SqliteEventLog;
let clock: ManualClock;
let node: { analytics: AnalyticsService; processor: StreamProcessor; dlq: SqliteDeadLetterStore };
let app: FastifyInstance;
let reader: string;

/** An AnalyticsService fed by a stream processor over the shared log (a node's handler side). */
async function startNode(group: string) {
  const analytics = new AnalyticsService({
    clock,
    logger,
    registry: new Registry(),
    sessionGapMinutes: 30,
    consentDefault: 'granted',
    consent: async (ids) =>
      new Map<string, ConsentFlags>((await store.consent.getMany(ids)).map((c) => [c.userId, c])),
    dataDir: dir,
  });
  const dlq = new SqliteDeadLetterStore(join(dir, `dlq-${group}.db`));
  const processor = new StreamProcessor({
    log,
    group,
    handlers: [analytics.handler],
    dlq,
    metrics: new StreamingMetrics(new Registry()),
    logger,
    clock,
    retry: { attempts: 2, baseMs: 1, maxMs: 5 },
  });
  await processor.start();
  return { analytics, processor, dlq };
}

async function settle(): Promise<void> {
  await node.processor.caughtUp();
  await node.analytics.settled();
}

async function get(path: string, token = reader): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await app.inject({
    method: 'GET',
    url: path,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: r.statusCode, body: r.json() };
}

const play = (
  userId: string,
  trackId: string,
  artistId: string,
  ts: number,
  extra: Record<string, unknown> = {},
) => ({
  type: 'track.played',
  userId,
  ts,
  data: { trackId, artistId, durationMs: 180_000, playedMs: 175_000, ...extra },
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'backbeat-analytics-e2e-'));
  clock = new ManualClock(NOW);
  store = await openStore({ dataDir: dir, logger, clock });
  log = new SqliteEventLog(join(dir, 'events.db'));
  node = await startNode('analytics-a');
  const ingest = new EventIngest({
    log,
    registry: musicEventRegistry(),
    clock,
    metrics: new StreamingMetrics(new Registry()),
    logger,
    maxBatch: 5000,
  });

  await store.consent.put('listener-denied', { analytics: false, personalization: true, marketing: true });
  const events: unknown[] = [];
  // A steady hit: 40 listeners, 600 plays a day for a week.
  for (let i = 0; i < 4200; i++)
    events.push(
      play(`fan-${i % 40}`, 'steady-hit', 'big-artist', NOW - 7 * DAY + Math.floor((i * 7 * DAY) / 4200)),
    );
  // A riser: 12 listeners, 36 plays in the last 50 minutes (one listener without consent).
  for (let i = 0; i < 36; i++)
    events.push(
      play(
        i % 12 === 0 ? 'listener-denied' : `early-${i % 12}`,
        'riser',
        'new-artist',
        NOW - 50 * MIN + i * MIN,
        { ip: '198.51.100.23' },
      ),
    );
  // One user's evening: two sessions (a 45-minute silence), likes and a skip.
  const t = NOW - 5 * HOUR;
  events.push(
    play('alice', 'steady-hit', 'big-artist', t),
    play('alice', 'song-2', 'indie', t + 4 * MIN),
    { type: 'track.liked', userId: 'alice', ts: t + 5 * MIN, data: { trackId: 'song-2', artistId: 'indie' } },
    play('alice', 'song-3', 'indie', t + 50 * MIN),
    {
      type: 'track.skipped',
      userId: 'alice',
      ts: t + 52 * MIN,
      data: { trackId: 'song-4', artistId: 'other', positionMs: 4000 },
    },
  );
  for (let i = 0; i < events.length; i += 5000) {
    const r = await ingest.ingest(events.slice(i, i + 5000), { source: 'http' });
    expect(r.rejected).toEqual([]);
  }
  await settle();

  const verifier = new TokenVerifier({ secret: SECRET, now: () => Date.now() });
  reader = await signHs256(SECRET, { sub: 'dashboard', scope: 'analytics:read' }, 600);
  // The server's validation settings (src/http/server.ts): unknown parameters are refused, not removed.
  app = Fastify({
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false } },
  });
  installErrorMapping(app, new Metrics(), logger);
  analyticsRoutes(app, node.analytics, verifier, async () => ({
    ...node.analytics.overviewPart(),
    connections: 3,
  }));
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await node?.processor.close();
  await node?.dlq.close();
  await log?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('analytics over the stream and HTTP', () => {
  it('trending: the riser outranks the steady hit with more plays; listeners without consent are not counted', async () => {
    const { status, body } = await get('/v1/analytics/trending?window=1h');
    expect(status).toBe(200);
    const items = body['items'] as Array<{
      id: string;
      score: number;
      plays: number;
      uniqueListeners: number;
    }>;
    expect(items.map((i) => i.id).slice(0, 2)).toEqual(['riser', 'steady-hit']);
    // 11 consenting listeners, counted by a HyperLogLog of 2^8 registers over pseudonyms
    // whose key is random per run: 11 ids collide in two registers about 2 % of the time
    // (the estimate reads 9), in four about 0.01 %. The bound allows three collisions.
    expect(items[0]!.plays).toBe(36);
    expect(Math.abs(items[0]!.uniqueListeners - 11)).toBeLessThanOrEqual(3);
    expect(items[1]!.plays).toBeGreaterThan(items[0]!.plays / 2);
    expect(items[0]!.score).toBeGreaterThan(items[1]!.score);
    expect(body).toMatchObject({ entity: 'track', window: '1h', updatedAt: new Date(NOW).toISOString() });

    const day = await get('/v1/analytics/trending');
    expect(day.body).toMatchObject({ entity: 'track', window: '24h' });
    const dayItems = day.body['items'] as Array<{ id: string; plays: number }>;
    expect(dayItems[0]!.id).toBe('riser');
    expect(dayItems.find((i) => i.id === 'steady-hit')!.plays).toBeGreaterThan(500);

    const artists = await get('/v1/analytics/trending?entity=artist&window=7d&limit=1');
    expect(artists.body['items']).toEqual([expect.objectContaining({ id: 'new-artist' })]);
  });

  it('validates every query parameter with a 400 naming it', async () => {
    const cases: Array<[string, RegExp]> = [
      ['window=2h', /querystring\/window must be one of 1h, 24h, 7d/],
      ['entity=album', /querystring\/entity must be one of track, artist/],
      ['limit=0', /querystring\/limit must be >= 1/],
      ['limit=101', /querystring\/limit must be <= 100/],
      ['limit=ten', /querystring\/limit must be integer/],
      ['since=yesterday', /querystring\/since is not a parameter/],
    ];
    for (const [q, message] of cases) {
      const r = await get(`/v1/analytics/trending?${q}`);
      expect(r.status, q).toBe(400);
      expect((r.body['error'] as { message: string }).message, q).toMatch(message);
    }
    expect((await get('/v1/analytics/segments?x=1')).status).toBe(400);
    expect((await get('/v1/analytics/users/bad%20id')).status).toBe(400);
  });

  it('requires analytics:read', async () => {
    expect((await get('/v1/analytics/overview', '')).status).toBe(401);
    const writer = await signHs256(SECRET, { sub: 'svc', scope: 'events:write' }, 600);
    for (const path of [
      '/v1/analytics/trending',
      '/v1/analytics/users/alice',
      '/v1/analytics/segments',
      '/v1/analytics/overview',
    ]) {
      expect((await get(path, writer)).status, path).toBe(403);
    }
    const admin = await signHs256(SECRET, { sub: 'ops', scope: 'admin' }, 600);
    expect((await get('/v1/analytics/segments', admin)).status).toBe(200);
  });

  it("a user's analytics: sessions in event time, top artists, engagement, segment; 404 without consent", async () => {
    const { status, body } = await get('/v1/analytics/users/alice');
    expect(status).toBe(200);
    expect(body).toEqual({
      userId: 'alice',
      engagementScore: expect.any(Number),
      segment: 'new',
      sessions: { count: 2, avgDurationMs: (5 * MIN + 2 * MIN) / 2 },
      topArtists: [
        { id: 'indie', plays: 2 },
        { id: 'big-artist', plays: 1 },
      ],
      lastSeen: new Date(NOW - 5 * HOUR + 52 * MIN).toISOString(),
    });
    expect(body['engagementScore']).toBeGreaterThan(20);
    expect((await get('/v1/analytics/users/listener-denied')).status).toBe(404);
    expect((await get('/v1/analytics/users/nobody')).status).toBe(404);
  });

  it('segments and the overview', async () => {
    const seg = await get('/v1/analytics/segments');
    const segments = seg.body['segments'] as Array<{ name: string; users: number }>;
    expect(segments.map((s) => s.name)).toEqual(['dormant', 'at-risk', 'new', 'power', 'regular', 'casual']);
    expect(segments.reduce((n, s) => n + s.users, 0)).toBe(40 + 11 + 1);
    expect(node.analytics.segmentUsers('new')).toContain('alice');
    const ov = await get('/v1/analytics/overview');
    expect(ov.body).toMatchObject({ events: { total: 4200 + 36 + 5 }, connections: 3 });
    expect(ov.body['activeUsers']).toBeGreaterThanOrEqual(1);
    expect((ov.body['topTracks'] as Array<{ id: string }>)[0]!.id).toBe('riser');
  });

  it('a restart rebuilds the same state from the log (same pseudonym key under DATA_DIR)', async () => {
    const before = {
      alice: node.analytics.export('alice'),
      trending: node.analytics.trending('track', '24h', 5),
    };
    const second = await startNode('analytics-b');
    try {
      await second.processor.caughtUp();
      await second.analytics.settled();
      expect(second.analytics.export('alice')).toEqual(before.alice);
      expect(second.analytics.trending('track', '24h', 5).items).toEqual(before.trending.items);
      expect(second.analytics.segments()).toEqual(node.analytics.segments());
    } finally {
      await second.processor.close();
      await second.dlq.close();
    }
  });
  it('keeps no user id and no full IP in what it exports beyond the mapping; withdrawing consent drops the profile', async () => {
    const exported = node.analytics.export('early-1') as { pseudonym: string; profile: { network: string } };
    expect(exported.profile.network).toBe('198.51.100.0/24');
    const state = JSON.stringify(node.analytics.stateForAudit());
    for (const id of ['alice', 'early-1', 'fan-7', 'listener-denied', '198.51.100.23'])
      expect(state).not.toContain(`"${id}"`);
    expect(state).toContain(exported.pseudonym);
    // Nothing analytics wrote under DATA_DIR names a user.
    for (const f of readdirSync(dir).filter((f) => f.startsWith('analytics')))
      expect(readFileSync(join(dir, f), 'utf8')).not.toContain('alice');

    await store.consent.put('early-1', { analytics: false, personalization: true, marketing: false });
    node.analytics.consentChanged('early-1', { analytics: false, personalization: true });
    expect((await get('/v1/analytics/users/early-1')).status).toBe(404);
    // A node rebuilding from the log honours the consent now in the store.
    const third = await startNode('analytics-c');
    try {
      await third.processor.caughtUp();
      await third.analytics.settled();
      expect(third.analytics.user('early-1')).toBeUndefined();
      expect(third.analytics.user('early-2')).toBeDefined();
    } finally {
      await third.processor.close();
      await third.dlq.close();
    }
  });
});
