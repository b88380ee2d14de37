import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../core/observability/index.ts';
import { openKeyStore, UserKeyCipher } from './crypto/index.ts';
import { MirroredDeadLetterStore } from './dlq/mirrored.ts';
import { SqliteDeadLetterStore, type DeadLetterStore } from './dlq/store.ts';
import { IdWindow } from './log/dedupe.ts';
import { KafkaEventLog, SqliteDedupeWindow, SqliteEventLog, type EventLog } from './log/index.ts';

export interface StreamEnginesConfig {
  dataDir: string;
  nodeId: string;
  kafkaBrokers: readonly string[] | undefined;
  kafkaTopic: string;
  kafkaPartitions: number;
  kafkaReplicationFactor: number;
  eventLogRetentionMs: number;
  eventLogRetentionEvents: number;
  eventDedupeWindow: number;
  eventDedupeTtlMs: number;
  /** DATABASE_URL: where the Kafka log's per-user data keys live (else DATA_DIR/streaming/keys.db). */
  databaseUrl?: string | undefined;
}

export interface StreamEngines {
  log: EventLog;
  dlq: DeadLetterStore;
  /** This node's consumer group. */
  group: string;
}

/**
 * Picks the event stream's engines from the config: the embedded SQLite log under
 * DATA_DIR/streaming, or Kafka when KAFKA_BROKERS is set. The dead-letter store is
 * SQLite under DATA_DIR either way (with Kafka, dead letters are also produced to the
 * `<topic>.dlt` topic for Kafka tooling).
 *
 * With Kafka, record bodies (the event topic's and the dead-letter topic's) are encrypted
 * per user (crypto-shredding, SPEC §7): the data keys live in the store's PostgreSQL when
 * DATABASE_URL is set — required when several nodes share the topic — else in
 * DATA_DIR/streaming/keys.db.
 */
export function createStreamEngines(c: StreamEnginesConfig, logger: Logger): StreamEngines {
  const dir = join(c.dataDir, 'streaming');
  mkdirSync(dir, { recursive: true });
  const dlq = new SqliteDeadLetterStore(join(dir, 'dead-letters.db'));
  if (c.kafkaBrokers) {
    const cipher = new UserKeyCipher({
      keys: openKeyStore({ databaseUrl: c.databaseUrl, dir, logger }),
      logger: logger.child({ component: 'keys' }),
    });
    // Every node reads every partition in a group of its own: each holds the whole model
    // and the stats (a materialized view, like a Kafka Streams global table); side effects
    // per user (pushes, dead letters) are done by that user's owner node only.
    const log = new KafkaEventLog({
      brokers: [...c.kafkaBrokers],
      topic: c.kafkaTopic,
      partitions: c.kafkaPartitions,
      replicationFactor: c.kafkaReplicationFactor,
      clientId: `backbeat-${c.nodeId}`,
      dedupe: new SqliteDedupeWindow(join(dir, 'dedupe.db'), {
        maxIds: c.eventDedupeWindow,
        ttlMs: c.eventDedupeTtlMs,
      }),
      logger: logger.child({ engine: 'kafka' }),
      cipher,
    });
    const dlt = new KafkaEventLog({
      brokers: [...c.kafkaBrokers],
      topic: `${c.kafkaTopic}.dlt`,
      partitions: 1,
      replicationFactor: c.kafkaReplicationFactor,
      clientId: `backbeat-${c.nodeId}-dlt`,
      dedupe: memoryDedupe(),
      logger: logger.child({ engine: 'kafka', topic: 'dlt' }),
      // The same keys: erasing a user shreds their dead letters in the topic too. The event log closes them.
      cipher,
      ownsCipher: false,
    });
    return { log, dlq: new MirroredDeadLetterStore(dlq, dlt), group: `backbeat-handlers-${c.nodeId}` };
  }
  const log = new SqliteEventLog(join(dir, 'events.db'), {
    retentionMs: c.eventLogRetentionMs,
    retentionRecords: c.eventLogRetentionEvents,
  });
  return { log, dlq, group: 'backbeat-handlers' };
}

/** Dead-letter records have unique ids by construction; a small in-memory window is enough. */
function memoryDedupe() {
  const w = new IdWindow(10_000);
  return {
    claim: async (ids: readonly string[]) => ids.map((id) => (w.has(id) ? true : (w.add(id), false))),
    release: async (ids: readonly string[]) => ids.forEach((id) => w.delete(id)),
    close: async () => undefined,
  };
}
