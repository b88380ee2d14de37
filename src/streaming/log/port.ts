/**
 * The event log port (#3): an append-only, durable, partitioned log of events with
 * consumer groups. Engines: embedded SQLite under DATA_DIR (`sqlite-log.ts`, one
 * partition) and Apache Kafka (`kafka-log.ts`, a topic partitioned by user id).
 * The contract every engine keeps (test/contract/event-log.contract.test.ts):
 * - `append` resolves only once every record is durable (fsync / acks=all); a record
 *   whose `id` was appended before, within the engine's dedupe window, is not appended
 *   again: its result says `duplicate: true`;
 * - records with the same `key` go to the same partition, in append order;
 * - offsets grow within a partition, never reused;
 * - `consume` is at-least-once: a batch is committed for the group only after its
 *   handler resolved; a handler that rejects gets the same batch again (the consumer
 *   backs off); after close or a crash, a consumer of the same group resumes after the
 *   last committed batch;
 * - with `from: 'earliest'` the consumer first re-delivers every retained record up to
 *   the group's committed position with `replay: true` (to rebuild in-memory state;
 *   side effects must be skipped), then continues live with `replay: false`;
 * - offsets may have gaps (retention, GDPR erasure): consumers read offset ranges and
 *   never assume that offset n + 1 follows n;
 * - `eraseKey` (GDPR, SPEC §7) makes every record of a key gone (SQLite: deleted with
 *   secure_delete, WAL checkpointed) or unreadable (Kafka: the key's encryption keys are
 *   destroyed; such records reach consumers flagged `shredded`, with an empty body).
 */
/**
 * The type of the erasure marker a log may append for a key it erased (Kafka): every
 * processor that reaches it forgets the user's state. Not a registered event type, so a
 * client can never send one.
 */
export const ERASURE_EVENT_TYPE = 'backbeat.user.erased';

export interface LogRecord {
  /** Event id (dedupe key). */
  id: string;
  /** Partition/ordering key: the user id, so a user's events stay in order. */
  key: string;
  /** Event time, ms since the epoch. */
  ts: number;
  /** The serialized event (JSON). */
  body: string;
  /**
   * The event `body` encodes, when the writer has it at hand (intake does). Never stored
   * or sent: an engine may hand it back with the record to consumers in the same thread
   * (`SqliteEventLog`'s tail of recent appends), which then skip parsing `body`. Shared by
   * every such consumer, so read-only.
   */
  value?: unknown;
}

export interface StoredRecord extends LogRecord {
  partition: number;
  offset: number;
  /**
   * The record's payload was encrypted with a key that has been destroyed (crypto-shredding
   * after a GDPR erasure): `body` is empty and the record is to be skipped, not handled.
   */
  shredded?: true;
}

/** What `eraseKey` did. */
export interface KeyErasure {
  /** Records deleted from the log (SQLite). */
  deleted: number;
  /** Encryption keys destroyed (Kafka): the key's records are unreadable from now on. */
  keysDestroyed: number;
  /**
   * Kafka: where the erasure marker went (the key's partition). Every node's processor
   * forgets the key's state when it reaches it, so a caller may wait for that offset.
   */
  marker?: { partition: number; offset: number };
}

export interface AppendResult {
  partition: number;
  /** Offset of the record; for a duplicate, -1 when the engine does not know the original. */
  offset: number;
  duplicate: boolean;
}

/** A run of records of one partition, in offset order. */
export interface RecordBatch {
  partition: number;
  records: StoredRecord[];
  /** Every record of the batch was committed by the group before this consumer started. */
  replay: boolean;
}

export type BatchHandler = (batch: RecordBatch) => Promise<void>;

export interface ConsumeOptions {
  /**
   * `committed` (default): start after the group's committed position (a new group
   * starts at the earliest retained record). `earliest`: replay everything retained up
   * to that position first, flagged `replay`. `{ after }`: like `earliest`, but each
   * partition named starts after the given offset (the last one a restored snapshot of
   * the handlers' state covers); records up to the committed position still come flagged
   * `replay`, partitions not named start at the earliest retained record.
   */
  from?: 'committed' | 'earliest' | { after: Readonly<Record<number, number>> };
  /** Most records per batch. @default 500 */
  maxBatch?: number;
  /** Backoff after a rejected batch, first step in ms (doubles, with jitter, up to 5 s). @default 50 */
  retryBackoffMs?: number;
}

export interface LogConsumer {
  /** Stops fetching and waits for the batch in flight (committed if its handler resolved). Idempotent. */
  close(): Promise<void>;
}

export interface LogHealth {
  ok: boolean;
  detail?: string;
}

export interface EventLog {
  readonly kind: 'sqlite' | 'kafka';
  /** Connects, creates what is missing (topics, tables). */
  start(): Promise<void>;
  append(records: readonly LogRecord[]): Promise<AppendResult[]>;
  consume(group: string, handler: BatchHandler, opts?: ConsumeOptions): Promise<LogConsumer>;
  /** Highest offset per partition (a partition that is empty is absent). For lag metrics and tests. */
  heads(): Promise<Record<number, number>>;
  /** Every retained, readable record of `key`, oldest first, at most `limit` (GDPR export). */
  readKey(key: string, opts?: { limit?: number }): Promise<StoredRecord[]>;
  /** Erases every record of `key` (see the header); idempotent. */
  eraseKey(key: string): Promise<KeyErasure>;
  /** Another node erased `key` (its erasure marker arrived): drop whatever is cached for it (data keys). */
  forgetKey?(key: string): void;
  health(): LogHealth;
  close(): Promise<void>;
}
