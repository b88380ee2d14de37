export type { AppendResult, EventLog, LogRecord, StoredRecord } from './port.ts';
export { SqliteEventLog } from './sqlite-log.ts';
