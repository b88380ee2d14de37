/**
 * The event log engines the contract suite runs against (test/contract/event-log.contract.test.ts).
 * Each factory opens a fresh, isolated log: `path` is a temp dir of the test, `name` a
 * unique name (a Kafka topic `t-<uuid>`). Add an engine here as one more entry.
 */
import { join } from 'node:path';
import { SqliteEventLog, type EventLog } from '../../src/streaming/index.ts';

export interface EventLogFactory {
  name: string;
  open(path: string, name: string): EventLog;
}

export function eventLogFactories(): EventLogFactory[] {
  const factories: EventLogFactory[] = [{ name: 'sqlite', open: (path) => new SqliteEventLog(join(path, 'events.db')) }];
  // kafka: added with the Kafka engine (TEST_KAFKA_BROKERS, started by scripts/test.sh).
  return factories;
}
