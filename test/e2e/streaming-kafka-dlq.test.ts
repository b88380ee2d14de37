/**
 * With the Kafka log, dead letters are listed from the node's store and also produced to
 * `<topic>.dlt`: the test app runs a handler that refuses one track, and a separate
 * consumer reads the dead-letter topic from the real broker. Records are encrypted per user
 * (crypto-shredding, SPEC §7): the reader decrypts with the node's key store.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BadRequestError } from '../../src/core/errors/index.ts';
import { createLogger } from '../../src/core/observability/index.ts';
import {
  KafkaEventLog,
  openKeyStore,
  SqliteDedupeWindow,
  UserKeyCipher,
  type EventHandler,
  type LogConsumer,
  type StoredRecord,
} from '../../src/streaming/index.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const brokers = process.env['TEST_KAFKA_BROKERS'];
const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

const refuser: EventHandler = {
  name: 'refuser',
  types: new Set(['track.played']),
  handle: (e) => {
    if (e.data['trackId'] === 'refused') throw new BadRequestError('this track is refused');
  },
};

describe('dead letters on Kafka', () => {
  it(
    'a poison event is listed by GET /v1/events/dlq and produced to <topic>.dlt',
    { timeout: 90_000 },
    async () => {
      if (!brokers)
        throw new Error(
          'TEST_KAFKA_BROKERS is not set: scripts/test.sh starts a broker (source scripts/lib/ensure.sh; ensure_kafka)',
        );
      const topic = `t-${randomUUID()}`;
      const srv: TestServer = await startTestServer(
        { KAFKA_BROKERS: brokers, KAFKA_TOPIC: topic, KAFKA_PARTITIONS: '2', NODE_ID: 'dlt-node' },
        { eventHandlers: [refuser] },
      );
      cleanup.push(() => srv.close());
      const admin = await srv.token({ sub: 'ops', scope: 'admin' });
      const res = await fetch(`${srv.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify([
          {
            type: 'track.played',
            userId: 'dl-user',
            ts: Date.now(),
            data: { trackId: 'refused', artistId: 'x', durationMs: 1000, playedMs: 1000 },
          },
        ]),
      });
      const [eventId] = ((await res.json()) as { ids: string[] }).ids;
      await until(
        async () =>
          (
            (await (
              await fetch(`${srv.url}/v1/events/dlq`, { headers: { authorization: `Bearer ${admin}` } })
            ).json()) as { total: number }
          ).total === 1,
        'dead letter listed',
      );

      const logger = createLogger('error');
      const reader = new KafkaEventLog({
        brokers: brokers.split(','),
        topic: `${topic}.dlt`,
        partitions: 1,
        clientId: 'dlt-reader',
        dedupe: new SqliteDedupeWindow(join(mkdtempSync(join(tmpdir(), 'bb-dlt-')), 'd.db')),
        logger,
        // The node's data keys (DATA_DIR/streaming/keys.db without DATABASE_URL).
        cipher: new UserKeyCipher({
          keys: openKeyStore({ dir: join(srv.app.config.dataDir, 'streaming'), logger }),
          logger,
        }),
      });
      await reader.start();
      cleanup.push(() => reader.close());
      const seen: StoredRecord[] = [];
      const c: LogConsumer = await reader.consume(
        `reader-${randomUUID()}`,
        async (b) => void seen.push(...b.records),
      );
      cleanup.push(() => c.close());
      await until(() => seen.length >= 1, 'dead letter on the topic', 60_000);
      const dl = JSON.parse(seen[0]!.body);
      expect(dl).toMatchObject({
        eventId,
        handler: 'refuser',
        attempts: 1,
        error: { code: 'bad_request', message: 'this track is refused', retriable: false },
        event: { userId: 'dl-user' },
      });
      expect(seen[0]!.key).toBe('dl-user');
    },
  );
});
