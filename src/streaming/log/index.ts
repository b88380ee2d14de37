export type {
  AppendResult,
  KeyErasure,
  BatchHandler,
  ConsumeOptions,
  EventLog,
  LogConsumer,
  LogHealth,
  LogRecord,
  RecordBatch,
  StoredRecord,
} from './port.ts';
export { ERASURE_EVENT_TYPE } from './port.ts';
export { SqliteEventLog, type SqliteEventLogOptions } from './sqlite-log.ts';
export { SqliteDedupeWindow, type DedupeWindow, type SqliteDedupeOptions } from './dedupe.ts';
export { KafkaEventLog, type KafkaEventLogOptions } from './kafka-log.ts';
