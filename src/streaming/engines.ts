import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../core/observability/index.ts';
import { PostgresDriver } from '../core/store/index.ts';
import { connectRedis, waitReady, type ScriptedRedis } from '../gateway/index.ts';
import { openKeyStore, UserKeyCipher } from './crypto/index.ts';
import { MirroredDeadLetterStore } from './dlq/mirrored.ts';
import { PostgresDeadLetterStore } from './dlq/postgres.ts';
import { RedisDeadLetterStore } from './dlq/redis.ts';
import { SqliteDeadLetterStore, type DeadLetterStore, type DeadLetterStoreOptions } from './dlq/store.ts';
import { IdWindow, type DedupeWindow } from './log/dedupe.ts';
import { DedupedEventLog } from './log/deduped-log.ts';
import { KafkaEventLog, SqliteDedupeWindow, SqliteEventLog, type EventLog } from './log/index.ts';
import { RedisDedupeWindow } from './log/redis-dedupe.ts';

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
  /**
   * DATABASE_URL: where the Kafka log's per-user data keys live (else
   * DATA_DIR/streaming/keys.db), and the dead-letter queue (shared by the nodes).
   */
  databaseUrl?: string | undefined;
  /** REDIS_URL: cluster mode: the event-id dedupe window (and, without DATABASE_URL, the dead letters) live there. */
  redisUrl?: string | undefined;
  /** REDIS_PREFIX. @default 'bb:' */
  redisPrefix?: string | undefined;
  /** REDIS_CLUSTER. */
  redisCluster?: boolean | undefined;
  /** The app's Prometheus registry (`backbeat_streaming_dead_letters_dropped_total`). */
  registry?: Registry | undefined;
  /** Dead letters kept at most. @default DEFAULT_MAX_DEAD_LETTERS (100,000) */
  maxDeadLetters?: number | undefined;
}

export interface StreamEngines {
  log: EventLog;
  dlq: DeadLetterStore;
  /** This node's consumer group. */
  group: string;
}

/**
 * Picks the event stream's engines from the config, each by its variable:
 * - the log: the embedded SQLite log under DATA_DIR/streaming, or Kafka (KAFKA_BROKERS);
 * - the dead-letter queue: PostgreSQL (DATABASE_URL) or else Redis (REDIS_URL), shared by
 *   every node so any node lists and replays every letter; SQLite under DATA_DIR on a
 *   single node. With Kafka, letters are also produced to the `<topic>.dlt` topic;
 * - the event-id dedupe: with REDIS_URL a window in Redis in front of the log
 *   (DedupedEventLog: an id sent to two nodes is a duplicate on the second); otherwise the
 *   embedded log's UNIQUE id, or the Kafka log's SQLite window (one node).
 *
 * With Kafka, record bodies (the event topic's and the dead-letter topic's) are encrypted
 * per user (crypto-shredding, SPEC §7): the data keys live in the store's PostgreSQL when
 * DATABASE_URL is set — required when several nodes share the topic — else in
 * DATA_DIR/streaming/keys.db.
 */
export function createStreamEngines(c: StreamEnginesConfig, logger: Logger): StreamEngines {
  const dir = join(c.dataDir, 'streaming');
  mkdirSync(dir, { recursive: true });
  const redis = c.redisUrl ? sharedRedis(c.redisUrl, c.redisCluster ?? false) : undefined;
  try {
    return build(c, dir, redis, logger);
  } catch (err) {
    // Half-built: nothing else holds the connection yet.
    redis?.client.disconnect();
    throw err;
  }
}

function build(
  c: StreamEnginesConfig,
  dir: string,
  redis: SharedRedis | undefined,
  logger: Logger,
): StreamEngines {
  const prefix = c.redisPrefix ?? 'bb:';
  const dlq = createDeadLetterStore(c, dir, redis, prefix, logger);
  const dedupe = redis
    ? new RedisDedupeWindow({
        redis: redis.client,
        prefix,
        maxIds: c.eventDedupeWindow,
        ttlMs: c.eventDedupeTtlMs,
        onClose: redis.acquire(),
      })
    : undefined;
  const shared = (log: EventLog, partitionOf?: (key: string) => number): EventLog =>
    dedupe && redis
      ? new DedupedEventLog({
          log,
          dedupe,
          logger: logger.child({ component: 'dedupe' }),
          ready: () => waitReady(redis.client),
          ...(partitionOf ? { partitionOf } : {}),
        })
      : log;
  if (c.kafkaBrokers) {
    if (!redis)
      logger.warn(
        'KAFKA_BROKERS without REDIS_URL: event ids are deduplicated per node; nodes sharing the topic need REDIS_URL for cluster-wide dedupe',
      );
    if (!c.databaseUrl && !redis)
      logger.warn(
        'KAFKA_BROKERS without DATABASE_URL or REDIS_URL: dead letters are kept per node (DATA_DIR); set one of them when several nodes share the topic',
      );
    const cipher = new UserKeyCipher({
      keys: openKeyStore({ databaseUrl: c.databaseUrl, dir, logger }),
      logger: logger.child({ component: 'keys' }),
    });
    // Every node reads every partition in a group of its own: each holds the whole model
    // and the stats (a materialized view, like a Kafka Streams global table); side effects
    // per user (pushes, dead letters) are done by that user's owner node only.
    const kafka = new KafkaEventLog({
      brokers: [...c.kafkaBrokers],
      topic: c.kafkaTopic,
      partitions: c.kafkaPartitions,
      replicationFactor: c.kafkaReplicationFactor,
      clientId: `backbeat-${c.nodeId}`,
      // With Redis the shared window in front of the log decides; else the node's own SQLite window.
      dedupe: dedupe
        ? passThroughDedupe()
        : new SqliteDedupeWindow(join(dir, 'dedupe.db'), {
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
    return {
      log: shared(kafka, (key) => kafka.partitionOf(key)),
      dlq: new MirroredDeadLetterStore(dlq, dlt),
      group: `backbeat-handlers-${c.nodeId}`,
    };
  }
  const log = new SqliteEventLog(join(dir, 'events.db'), {
    retentionMs: c.eventLogRetentionMs,
    retentionRecords: c.eventLogRetentionEvents,
  });
  return { log: shared(log), dlq, group: 'backbeat-handlers' };
}

/**
 * The dead-letter store: PostgreSQL (DATABASE_URL) or Redis (REDIS_URL), shared by the
 * nodes; else SQLite under DATA_DIR. Bounded by `maxDeadLetters`; the letters dropped over
 * it are counted in `backbeat_streaming_dead_letters_dropped_total` and logged.
 */
function createDeadLetterStore(
  c: StreamEnginesConfig,
  dir: string,
  redis: SharedRedis | undefined,
  prefix: string,
  logger: Logger,
): DeadLetterStore {
  const dropped = c.registry
    ? new Counter({
        name: 'backbeat_streaming_dead_letters_dropped_total',
        help: 'Dead letters dropped because the queue held its maximum (the oldest go first)',
        registers: [c.registry],
      })
    : undefined;
  const opts: DeadLetterStoreOptions = {
    ...(c.maxDeadLetters ? { maxLetters: c.maxDeadLetters } : {}),
    onDropped: (n) => {
      dropped?.inc(n);
      logger.warn({ dropped: n }, 'dead-letter queue full: oldest letters dropped');
    },
  };
  if (c.databaseUrl)
    return new PostgresDeadLetterStore(
      new PostgresDriver({ url: c.databaseUrl, logger: logger.child({ component: 'dlq' }), poolSize: 2 }),
      opts,
    );
  if (redis)
    return new RedisDeadLetterStore({ redis: redis.client, prefix, onClose: redis.acquire(), ...opts });
  return new SqliteDeadLetterStore(join(dir, 'dead-letters.db'), opts);
}

interface SharedRedis {
  client: ScriptedRedis;
  /** One more user of the connection; the function it returns lets go (the last one closes it). */
  acquire(): () => Promise<void>;
}

/** One fail-fast connection for the stream's shared engines (dedupe, dead letters), closed by its last user. */
function sharedRedis(url: string, cluster: boolean): SharedRedis {
  const client = connectRedis({ url, failFast: true, connectionName: 'backbeat-streaming', cluster });
  let users = 0;
  return {
    client,
    acquire() {
      users++;
      let done = false;
      return async () => {
        if (done) return;
        done = true;
        if (--users === 0) await client.quit().catch(() => client.disconnect());
      };
    },
  };
}

/** The Kafka log's own window when a shared one stands in front of it: nothing is a duplicate here. */
function passThroughDedupe(): DedupeWindow {
  return {
    claim: async (ids) => ids.map(() => false),
    release: async () => undefined,
    close: async () => undefined,
  };
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
