/**
 * GDPR on the Kafka event log (SPEC §7), on the real broker of scripts/test.sh
 * (TEST_KAFKA_BROKERS): Kafka cannot rewrite its log, so the user's payloads are
 * crypto-shredded. Proves: a plain Kafka consumer of the raw topic (and of the
 * `<topic>.dlt` dead-letter topic) never sees the user's payloads in clear, before or after
 * the erasure; after it the user's records cannot be decrypted with the key store any
 * more while everyone else's still can; a node restarted on the same DATA_DIR rebuilds its
 * state from the topic with nothing of the user and everything of the others; no file
 * under DATA_DIR holds the user's id.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Admin, Consumer, stringDeserializers } from '@platformatic/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { BackbeatError } from '../../src/core/errors/index.ts';
import { SqliteDriver } from '../../src/core/store/index.ts';
import {
  SqlKeyStore,
  UserKeyCipher,
  type EventHandler,
  type StoredRecord,
  type StreamEvent,
} from '../../src/streaming/index.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';
import { checkpointAll, eventsOf, gdprFor, logger, postEvents, scan } from './gdpr-fixtures.ts';

const brokers = process.env['TEST_KAFKA_BROKERS'];

const poison: EventHandler = {
  name: 'poison',
  types: new Set(['track.liked']),
  handle(e: StreamEvent) {
    if (e.data['trackId'] === 'poison') throw new BackbeatError('BAD_REQUEST', 'poisoned like');
  },
};

/** Every record of `topic` as a plain Kafka client reads it (no Backbeat code in the way). */
async function readRaw(topic: string): Promise<StoredRecord[]> {
  const admin = new Admin({ clientId: 'gdpr-raw-admin', bootstrapBrokers: brokers!.split(',') });
  const meta = await admin.metadata({ topics: [topic], forceUpdate: true });
  const count = meta.topics.get(topic)?.partitionsCount ?? 0;
  const listed = await admin.listOffsets({
    topics: [
      {
        name: topic,
        partitions: Array.from({ length: count }, (_, partitionIndex) => ({
          partitionIndex,
          timestamp: -1n,
        })),
      },
    ],
  });
  await admin.close();
  const ends = new Map(
    (listed.find((t) => t.name === topic)?.partitions ?? []).map((p) => [p.partitionIndex, p.offset]),
  );
  const total = [...ends.values()].reduce((s, n) => s + Number(n), 0);
  const out: StoredRecord[] = [];
  if (total === 0) return out;
  const consumer = new Consumer({
    clientId: 'gdpr-raw',
    groupId: `gdpr-raw-${randomUUID()}`,
    bootstrapBrokers: brokers!.split(','),
    deserializers: stringDeserializers,
    autocommit: false,
    maxWaitTime: 200,
  });
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    for await (const m of stream) {
      out.push({
        id: m.headers.get('id') ?? '',
        key: m.key,
        ts: Number(m.timestamp),
        body: m.value,
        partition: m.partition,
        offset: Number(m.offset),
      });
      if (out.length >= total) break;
    }
    await stream.close();
  } finally {
    await consumer.close(true);
  }
  return out;
}

describe('GDPR on the Kafka event log', () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    // The restarted node first; then the first one, whose close removes the shared DATA_DIR.
    for (const s of servers.reverse()) await s.close();
  });

  it(
    'crypto-shreds the user: no plaintext in the raw topics, undecryptable after erasure, a restarted node rebuilds nothing of the user',
    { timeout: 150_000 },
    async () => {
      if (!brokers)
        throw new Error(
          'TEST_KAFKA_BROKERS is not set: scripts/test.sh starts a broker (source scripts/lib/ensure.sh; ensure_kafka)',
        );
      const topic = `t-gdpr-${randomUUID()}`;
      const victim = 'victim-kafka-7c41d0';
      const keepers = ['keeper-k1', 'keeper-k2', 'keeper-k3'];
      const env = { KAFKA_BROKERS: brokers, KAFKA_TOPIC: topic, KAFKA_PARTITIONS: '3' };
      const first = await startTestServer(env, { eventHandlers: [poison] });
      servers.push(first);
      const dataDir = first.app.config.dataDir;
      const admin = await first.token({ sub: 'ops', scope: 'admin' });
      // The victim's payload carries strings found nowhere else: its playlist ids and a private track.
      const secret = `secret-track-of-${victim}`;
      const victimEvents = [
        ...eventsOf(victim, 36, 1),
        {
          type: 'track.played',
          userId: victim,
          ts: Date.now() - 5000,
          data: { trackId: secret, artistId: 'art-secret', durationMs: 200_000, playedMs: 190_000 },
        },
        {
          type: 'track.liked',
          userId: victim,
          ts: Date.now() - 4000,
          data: { trackId: 'poison', artistId: 'art-poison' },
        },
      ];
      await postEvents(first.url, admin, victimEvents);
      for (const [i, k] of keepers.entries())
        await postEvents(first.url, admin, [
          ...eventsOf(k, 30, i + 2),
          {
            type: 'track.liked',
            userId: k,
            ts: Date.now() - 3000,
            data: { trackId: 'poison', artistId: 'art-poison' },
          },
        ]);
      const streaming = first.app.streaming;
      await streaming.caughtUp(60_000);
      await until(
        async () => (await streaming.deadLetterCount()) === 4,
        'four dead letters (mirrored to the .dlt topic)',
      );
      expect((await streaming.userListening(victim)).plays).toBe(19);
      const keeperPlays = await Promise.all(
        keepers.map(async (k) => (await streaming.userListening(k)).plays),
      );
      const keeperRecs = await Promise.all(
        keepers.map(async (k) => (await streaming.recommend(k, 10)).items.map((i) => i.trackId)),
      );

      // At rest in Kafka, even before any erasure, payloads are ciphertext.
      const plain = (records: StoredRecord[]) =>
        records.filter(
          (r) => r.body.includes(secret) || r.body.includes(`pl-${victim}`) || r.body.includes('"data":{"'),
        );
      const rawBefore = await readRaw(topic);
      expect(rawBefore).toHaveLength(victimEvents.length + keepers.length * 31);
      expect(plain(rawBefore)).toEqual([]);
      expect(rawBefore.every((r) => r.body.startsWith('bbe1.'))).toBe(true);
      const dltBefore = await readRaw(`${topic}.dlt`);
      expect(dltBefore).toHaveLength(4);
      expect(plain(dltBefore)).toEqual([]);
      // The export decrypts (a scan of the user's partition).
      const exported = await streaming.exportUser(victim);
      expect(exported.events).toHaveLength(victimEvents.length);
      expect(JSON.stringify(exported.events)).toContain(secret);

      checkpointAll(dataDir);
      const scanBefore = scan(dataDir, victim);
      // The check at the end can fail: the id is in the key store and the dead-letter store.
      expect(scanBefore.hits.map((h) => h.slice(dataDir.length)).sort()).toEqual([
        '/streaming/dead-letters.db',
        '/streaming/keys.db',
      ]);

      const gdpr = gdprFor(first.app);
      const { receiptId } = await gdpr.erase(victim);
      await until(async () => (await gdpr.erasure(receiptId))?.status === 'done', 'erasure done', 60_000);
      await gdpr.close();
      expect(await gdpr.erasure(receiptId)).toEqual({
        status: 'done',
        stores: { streaming: 'done', push: 'done', store: 'done' },
      });
      expect(await streaming.userListening(victim)).toMatchObject({ plays: 0, history: [], session: null });
      expect((await streaming.exportUser(victim)).events).toEqual([]);

      // The raw topics: the victim's records are still there (Kafka cannot rewrite them), still
      // ciphertext, and now undecryptable: the key store has no key for them, everyone else's decrypt.
      const rawAfter = await readRaw(topic);
      const markers = rawAfter.filter((r) => !r.body.startsWith('bbe1.'));
      expect(markers).toHaveLength(1);
      expect(JSON.parse(markers[0]!.body)).toMatchObject({
        type: 'backbeat.user.erased',
        userId: victim,
        data: {},
      });
      expect(plain(rawAfter)).toEqual([]);
      expect(plain(await readRaw(`${topic}.dlt`))).toEqual([]);
      const keys = new SqlKeyStore(new SqliteDriver(join(dataDir, 'streaming', 'keys.db')));
      const cipher = new UserKeyCipher({ keys, logger });
      const opened = await cipher.open(rawAfter.filter((r) => r.body.startsWith('bbe1.')));
      const ofVictim = opened.filter((r) => r.key === victim);
      expect(ofVictim).toHaveLength(victimEvents.length);
      expect(ofVictim.every((r) => r.shredded === true && r.body === '')).toBe(true);
      const others = opened.filter((r) => r.key !== victim);
      expect(others).toHaveLength(keepers.length * 31);
      expect(others.every((r) => !r.shredded && (JSON.parse(r.body) as StreamEvent).userId === r.key)).toBe(
        true,
      );
      const dltOpened = await cipher.open(await readRaw(`${topic}.dlt`));
      expect(dltOpened.filter((r) => r.shredded).map((r) => r.key)).toEqual([victim]);
      expect(dltOpened.filter((r) => !r.shredded)).toHaveLength(3);
      await cipher.close();

      // A node restarted on the same DATA_DIR (same node id, same group) rebuilds from the topic.
      await first.app.close({ drain: false });
      const second = await startTestServer({ ...env, DATA_DIR: dataDir }, { eventHandlers: [poison] });
      servers.push(second);
      await second.app.streaming.caughtUp(60_000);
      const s2 = second.app.streaming;
      expect(await s2.userListening(victim)).toMatchObject({ plays: 0, history: [], session: null });
      expect(await s2.recommend(victim, 5)).toMatchObject({ updatedAt: null });
      expect((await s2.exportUser(victim)).sessions).toEqual([]);
      expect(await Promise.all(keepers.map(async (k) => (await s2.userListening(k)).plays))).toEqual(
        keeperPlays,
      );
      // Rebuilt without the victim's plays, the popularity aggregates no longer carry the track only the victim played.
      expect(keeperRecs.flat()).toContain(secret);
      // Same tracks less the secret; their order may move (the victim's plays weighed in the scores).
      expect(
        await Promise.all(
          keepers.map(async (k) => (await s2.recommend(k, 10)).items.map((i) => i.trackId).sort()),
        ),
      ).toEqual(keeperRecs.map((l) => l.filter((t) => t !== secret).sort()));
      expect((await s2.trackStats(secret)).plays).toBe(0);
      expect((await s2.exportUser(victim)).events).toEqual([]);
      for (const k of keepers) expect((await s2.exportUser(k)).events).toHaveLength(31);
      const skipped = await second.app.metrics.registry.getSingleMetricAsString(
        'backbeat_streaming_events_processed_total',
      );
      expect(skipped).toMatch(
        new RegExp(`handler="\\*",outcome="skipped_erased"} ${victimEvents.length}\\b`),
      );

      checkpointAll(dataDir);
      const s = scan(dataDir, victim);
      console.info(
        `GDPR Kafka: ${victimEvents.length} records of the victim shredded (${keepers.length * 31} of others still readable), ${rawAfter.length} raw records read; ` +
          `DATA_DIR: ${s.files} files, ${s.bytes} bytes scanned, hits before ${scanBefore.hits.length}, after ${s.hits.length}`,
      );
      expect(s.hits).toEqual([]);
    },
  );
});
