/**
 * The event log port (#3): an append-only, durable, ordered log of events with consumer
 * groups. Embedded: SQLite under DATA_DIR (`sqlite-log.ts`); cluster: Kafka (to come).
 * Semantics every implementation keeps:
 * - `append` resolves only once the events are durable; offsets grow by one, from 1;
 * - an event whose `id` is already in the log (within the dedupe window) is not
 *   appended again: its result says `duplicate` and carries the original offset;
 * - `read` returns events in offset order; a group's committed offset survives restarts.
 */
export interface LogRecord {
  /** Event id (dedupe key). */
  id: string;
  /** Partition/ordering key: the user id, so a user's events stay in order. */
  key: string;
  /** Event time, ms since the epoch. */
  ts: number;
  /** The serialized event. */
  body: string;
}

export interface StoredRecord extends LogRecord {
  offset: number;
}

export interface AppendResult {
  offset: number;
  duplicate: boolean;
}

export interface EventLog {
  append(records: readonly LogRecord[]): Promise<AppendResult[]>;
  /** Records after `afterOffset`, oldest first, at most `limit`. */
  read(afterOffset: number, limit: number): Promise<StoredRecord[]>;
  /** The group has processed everything up to and including `offset`. */
  commit(group: string, offset: number): Promise<void>;
  /** Last committed offset of a group (0 when none). */
  committed(group: string): Promise<number>;
  /** Highest offset in the log (0 when empty). */
  head(): Promise<number>;
  /** Drops records older than `beforeTs` or beyond the newest `keep`; returns how many went. */
  prune(opts: { beforeTs?: number; keep?: number }): Promise<number>;
  close(): Promise<void>;
}
