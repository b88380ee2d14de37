/**
 * The event stream's shared state in cluster mode: two nodes on one Redis (registry,
 * dedupe window), one Kafka topic and one dead-letter queue (Redis; PostgreSQL with
 * DATABASE_URL). A letter made on node A is listed by node B and replayed there; two
 * replays at once handle a letter once; an event id sent to A and then to B is a
 * duplicate on B.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { BadRequestError } from '../../src/core/errors/index.ts';
import type { DeadLetter, EventHandler } from '../../src/streaming/index.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const REDIS = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const brokers = process.env['TEST_KAFKA_BROKERS'];
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/**
 * Refuses track "refused" while `refusing` (node A's only: every letter is made on A);
 * records what it handled, per node.
 */
class Refuser implements EventHandler {
  readonly name = 'refuser';
  readonly types = new Set(['track.played']);
  static refusing = true;
  /** Set once the live events are handled: `handled` then holds replays only. */
  static recording = false;
  readonly handled: string[] = [];
  readonly #refuses: boolean;
  constructor(refuses: boolean) {
    this.#refuses = refuses;
  }
  handle(e: { id: string; data: Record<string, unknown> }): void {
    if (e.data['trackId'] !== 'refused') return;
    if (this.#refuses && Refuser.refusing) throw new BadRequestError('this track is refused');
    if (Refuser.recording) this.handled.push(e.id);
  }
}

/** A fresh schema of TEST_DATABASE_URL, dropped after the test; the URL reaches only it. */
async function schemaUrl(): Promise<string> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) throw new Error('TEST_DATABASE_URL is not set: source scripts/lib/ensure.sh; ensure_postgres');
  const schema = `bb_stream_cluster_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE SCHEMA ${schema}`);
  cleanups.push(() => admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  return `${base}${base.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

async function twoNodes(extra: Record<string, string>) {
  if (!brokers)
    throw new Error(
      'TEST_KAFKA_BROKERS is not set: scripts/test.sh starts a broker (source scripts/lib/ensure.sh; ensure_kafka)',
    );
  const env = {
    REDIS_URL: REDIS,
    REDIS_PREFIX: `t-${randomUUID()}:`,
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC: `t-${randomUUID()}`,
    KAFKA_PARTITIONS: '2',
    EVENT_HANDLER_ATTEMPTS: '1',
    ...extra,
  };
  const handlers = [new Refuser(true), new Refuser(false)];
  const nodes: TestServer[] = [];
  for (const [i, h] of handlers.entries()) {
    const s = await startTestServer({ ...env, NODE_ID: `stream-${i ? 'b' : 'a'}` }, { eventHandlers: [h] });
    cleanups.push(() => s.close());
    nodes.push(s);
  }
  const [a, b] = nodes as [TestServer, TestServer];
  const token = await a.token({ sub: 'ops', scope: 'admin' });
  const api = async (node: TestServer, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${node.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  return { a, b, handlers: handlers as [Refuser, Refuser], api };
}

const played = (id: string, trackId: string, userId = 'listener') => ({
  id,
  type: 'track.played',
  userId,
  ts: Date.now(),
  data: { trackId, artistId: 'x', durationMs: 1000, playedMs: 1000 },
});

describe.each([
  { dlq: 'redis', env: async () => ({}) },
  { dlq: 'postgres', env: async () => ({ DATABASE_URL: await schemaUrl() }) },
])('streaming cluster (dead letters in $dlq)', ({ env }) => {
  it(
    'letters are shared: made on A, listed and replayed on B; two replays at once handle a letter once; an id sent to A then B is a duplicate on B',
    { timeout: 150_000 },
    async () => {
      Refuser.refusing = true;
      Refuser.recording = false;
      const { a, b, handlers, api } = await twoNodes(await env());

      // Dedupe across nodes.
      const dupId = randomUUID();
      const first = await api(a, 'POST', '/v1/events', [played(dupId, 'fine')]);
      expect(first).toMatchObject({ status: 202, body: { accepted: 1, duplicates: 0 } });
      const again = await api(b, 'POST', '/v1/events', [played(dupId, 'fine')]);
      expect(again).toMatchObject({ status: 202, body: { accepted: 1, duplicates: 1, ids: [dupId] } });

      // Dead letters made on A: its handler refuses, B's does not, so each letter comes from A
      // (for the users A owns: side effects are done by a user's owner node).
      const users = Array.from({ length: 12 }, (_, i) => `listener-${i}`);
      const sent = users.map((u) => played(randomUUID(), 'refused', u));
      expect((await api(a, 'POST', '/v1/events', sent)).status).toBe(202);
      await Promise.all([a.app.streaming.caughtUp(), b.app.streaming.caughtUp()]);
      const listed = async (node: TestServer) =>
        (await api(node, 'GET', '/v1/events/dlq?handler=refuser')).body as {
          total: number;
          items: DeadLetter[];
        };
      const onB = await listed(b);
      expect(onB.items.length).toBeGreaterThanOrEqual(2);
      expect(onB.items.every((d) => sent.some((e) => e.id === d.eventId))).toBe(true);
      expect((await listed(a)).items).toEqual(onB.items);
      const ids = onB.items.map((d) => d.eventId);

      // Replay one letter on B: B's handler handles it, and it leaves the queue for every node.
      Refuser.refusing = false;
      Refuser.recording = true;
      const one = await api(b, 'POST', '/v1/events/dlq/replay', { ids: [`${ids[0]}/refuser`] });
      expect(one).toMatchObject({
        status: 200,
        body: { replayed: 1, succeeded: [`${ids[0]}/refuser`], failed: [] },
      });
      expect(handlers[1].handled).toEqual([ids[0]]);
      expect((await listed(a)).items.map((d) => d.eventId)).toEqual(ids.slice(1));

      // Two replays at once (A and B): each remaining letter is handled by exactly one of them.
      const [ra, rb] = await Promise.all([
        api(a, 'POST', '/v1/events/dlq/replay', {}),
        api(b, 'POST', '/v1/events/dlq/replay', {}),
      ]);
      const succeeded = [...(ra.body['succeeded'] as string[]), ...(rb.body['succeeded'] as string[])];
      expect(succeeded.sort()).toEqual(
        ids
          .slice(1)
          .map((id) => `${id}/refuser`)
          .sort(),
      );
      const replayed = [...handlers[0].handled, ...handlers[1].handled].filter((id) => ids.includes(id));
      expect(replayed.sort()).toEqual([...ids].sort()); // each letter handled once, the first one on B
      expect((await listed(a)).total).toBe(0);
      expect((await listed(b)).total).toBe(0);
    },
  );
});
