/**
 * The event log engines the contract suite runs against (test/contract/event-log.contract.test.ts).
 * Each factory opens a fresh, isolated log: `path` is a temp dir of the test, `name` a
 * unique name (a Kafka topic `t-<uuid>`). Add an engine here as one more entry.
 */
import { join } from 'node:path';
import { createLogger } from '../../src/core/observability/index.ts';
import {
  KafkaEventLog,
  openKeyStore,
  SqliteDedupeWindow,
  SqliteEventLog,
  UserKeyCipher,
  type EventLog,
} from '../../src/streaming/index.ts';

export interface EventLogFactory {
  name: string;
  open(path: string, name: string): EventLog;
}

export function eventLogFactories(): EventLogFactory[] {
  const factories: EventLogFactory[] = [
    { name: 'sqlite', open: (path) => new SqliteEventLog(join(path, 'events.db')) },
  ];
  // kafka: the shared broker of scripts/test.sh (ensure_kafka). Unset, every kafka case fails saying so.
  factories.push({
    name: 'kafka',
    open: (path, name) => {
      const brokers = process.env.TEST_KAFKA_BROKERS;
      if (!brokers)
        throw new Error(
          'TEST_KAFKA_BROKERS is not set: start a broker with `source scripts/lib/ensure.sh; ensure_kafka` (scripts/test.sh does)',
        );
      const logger = createLogger(process.env.LOG_LEVEL ?? 'error');
      return new KafkaEventLog({
        brokers: brokers.split(','),
        topic: name,
        partitions: 6,
        clientId: `contract-${name}`,
        // On the test's dir, so a log reopened on the same path and name keeps its dedupe window.
        dedupe: new SqliteDedupeWindow(join(path, `${name}.dedupe.db`)),
        logger,
        // As the app runs it: bodies encrypted per key (crypto-shredding), keys in a SQLite file of the test's dir.
        cipher: new UserKeyCipher({ keys: openKeyStore({ dir: path, logger }), logger }),
      });
    },
  });
  return factories;
}
