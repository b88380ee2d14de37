import type { Consumer, Message, MessagesStream } from '@platformatic/kafka';
import { kafkaClient } from './kafka-client.ts';
import type { Logger } from '../../core/observability/index.ts';
import type { BatchHandler, ConsumeOptions, LogConsumer, RecordBatch, StoredRecord } from './port.ts';

type Msg = Message<string, string, string, string>;
type Stream = MessagesStream<string, string, string, string>;

export interface KafkaConsumerOptions extends ConsumeOptions {
  brokers: string[];
  clientId: string;
  topic: string;
  group: string;
  handler: BatchHandler;
  logger: Logger;
}

const MAX_BACKOFF_MS = 5_000;

/**
 * One `consume(group, …)` of KafkaEventLog (kafka-log.ts): a member of the Kafka consumer
 * group `group` that hands the handler batches of one partition, in offset order, at most
 * `maxBatch` records, one batch at a time. Guarantees (the EventLog port):
 * - at-least-once: autocommit is off; a batch's offsets are committed only after the
 *   handler resolved. A rejecting handler gets the same records again after a backoff
 *   (retryBackoffMs doubling with jitter, at most 5 s): they stay in memory until handled,
 *   so nothing is ever skipped;
 * - `from: 'earliest'`: the group's committed offsets are read first, the stream starts at
 *   the earliest retained offsets, and batches below the committed position are flagged
 *   `replay` (split at the boundary) and not committed again;
 * - broker loss: the fetch stream fails, the session ends and a new one starts after a
 *   backoff, rejoining with the same member. Positions already handled in this process
 *   (`#next`) are skipped when the log is read again, so a reconnect delivers from where
 *   the handler got to, not from the (older) committed offset. Commits that failed are
 *   retried at the start of the next session.
 */
export class KafkaLogConsumer implements LogConsumer {
  readonly #o: KafkaConsumerOptions;
  readonly #maxBatch: number;
  readonly #backoffMs: number;
  readonly #consumer: Consumer<string, string, string, string>;
  /** Next offset per partition not yet handled: everything before it was handled here. */
  readonly #next = new Map<number, bigint>();
  /** `from` is `earliest` or `{ after }`: records below the committed offsets come flagged `replay`. */
  readonly #replaying: boolean;
  /** Earliest mode: the group's committed offset per partition when this consumer started. */
  #replayUntil: Map<number, bigint> | undefined;
  /** Handled but not (yet) committed: committed by the next batch or session. */
  readonly #pendingCommits = new Map<number, { offset: bigint; leaderEpoch: number }>();
  /** Records read from the stream, not handled yet, per partition. */
  readonly #buffered = new Map<number, Msg[]>();
  /**
   * Next offset per partition this session takes from the stream: past what is buffered or
   * being handled. A rejoin makes the stream fetch again from the committed offset; what is
   * below this was taken already (a batch in the handler has left #buffered but is not in #next yet).
   */
  readonly #taken = new Map<number, bigint>();
  #bufferedCount = 0;
  #lastPartition = -1;
  #closing = false;
  #committing: Promise<void> | undefined;
  #inFlush = false;
  #closed: Promise<void> | undefined;
  #run: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #sleep: { timer: NodeJS.Timeout; done: () => void } | undefined;

  constructor(o: KafkaConsumerOptions) {
    this.#o = o;
    this.#maxBatch = Math.max(1, o.maxBatch ?? 500);
    this.#backoffMs = Math.max(1, o.retryBackoffMs ?? 50);
    this.#replaying = o.from === 'earliest' || typeof o.from === 'object';
    // `{ after }` (a restored snapshot): each named partition starts after its offset.
    if (typeof o.from === 'object')
      for (const [p, offset] of Object.entries(o.from.after)) this.#next.set(Number(p), BigInt(offset) + 1n);
    this.#consumer = new (kafkaClient().Consumer)({
      clientId: o.clientId,
      groupId: o.group,
      bootstrapBrokers: o.brokers,
      deserializers: kafkaClient().stringDeserializers,
      autocommit: false,
      sessionTimeout: 10_000,
      rebalanceTimeout: 10_000,
      heartbeatInterval: 1_000,
      maxWaitTime: 500,
      highWaterMark: Math.max(16, this.#maxBatch),
      retries: 2,
      retryDelay: 200,
      connectTimeout: 3_000,
      requestTimeout: 20_000, // above rebalanceTimeout: a JoinGroup may legitimately wait that long
    });
    // A failed background rejoin is emitted as 'error': without a listener it would crash the process.
    this.#consumer.on('error', (err: unknown) =>
      this.#o.logger.warn({ err, group: o.group }, 'kafka consumer group error; the next session rejoins'),
    );
  }

  /** Starts the first session; resolves once it is consuming or failed once (it then keeps retrying). */
  async start(): Promise<void> {
    let first!: () => void;
    const started = new Promise<void>((r) => (first = r));
    this.#run = this.#loop(first);
    await started;
  }

  async close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    this.#wake?.();
    if (this.#sleep) {
      clearTimeout(this.#sleep.timer);
      this.#sleep.done();
    }
    await this.#run;
    await this.#flushCommits(); // what was handled but whose commit failed: one last, bounded try
    await this.#consumer
      .close(true)
      .catch((err: unknown) =>
        this.#o.logger.warn({ err, group: this.#o.group }, 'kafka consumer close failed'),
      );
  }

  async #loop(started: () => void): Promise<void> {
    for (let attempt = 0; !this.#closing;) {
      try {
        await this.#session(started);
        attempt = 0;
      } catch (err) {
        started();
        if (this.#closing) break;
        this.#o.logger.warn(
          { err, group: this.#o.group, topic: this.#o.topic, attempt },
          'kafka consumer session failed; reconnecting',
        );
        await this.#pause(this.#backoff(attempt++));
      }
    }
    started();
  }

  /** One stream's lifetime: returns when closing, throws when the stream failed. */
  async #session(started: () => void): Promise<void> {
    if (this.#replaying && !this.#replayUntil) this.#replayUntil = await this.#committedOffsets();
    const state: { failure?: Error; ended: boolean } = { ended: false };
    const stream = await this.#openStream(state);
    const onJoin = () => this.#dropUnassigned();
    this.#consumer.on('consumer:group:join', onJoin);
    started();
    try {
      await this.#flushCommits();
      while (!this.#closing) {
        this.#readAvailable(stream);
        const batch = this.#nextBatch();
        if (batch) {
          await this.#deliver(batch);
          continue;
        }
        if (state.failure) throw state.failure;
        if (state.ended) throw new Error('kafka stream closed unexpectedly');
        await new Promise<void>((r) => (this.#wake = r));
        this.#wake = undefined;
      }
    } finally {
      this.#consumer.off('consumer:group:join', onJoin);
      this.#buffered.clear();
      this.#taken.clear();
      this.#bufferedCount = 0;
      if (!stream.destroyed) {
        await stream
          .close()
          .catch((err: unknown) =>
            this.#o.logger.warn({ err, group: this.#o.group }, 'kafka stream close failed'),
          );
      }
    }
  }

  async #committedOffsets(): Promise<Map<number, bigint>> {
    const meta = await this.#consumer.metadata({ topics: [this.#o.topic] });
    const count = meta.topics.get(this.#o.topic)?.partitionsCount ?? 0;
    const partitions = Array.from({ length: count }, (_, i) => i);
    const commits = await this.#consumer.listCommittedOffsets({
      topics: [{ topic: this.#o.topic, partitions }],
    });
    const out = new Map<number, bigint>();
    (commits.get(this.#o.topic) ?? []).forEach((offset, p) => out.set(p, offset < 0n ? 0n : offset));
    return out;
  }

  #openStream(state: { failure?: Error; ended: boolean }): Promise<Stream> {
    const { topic } = this.#o;
    // Earliest mode resumes a later session where this process got to (MANUAL); the
    // committed mode lets the group decide (COMMITTED), and #readAvailable skips what was handled.
    const resume = this.#replaying && this.#next.size > 0;
    return new Promise((resolve, reject) => {
      this.#consumer.consume(
        {
          topics: [topic],
          autocommit: false,
          mode: resume ? 'manual' : this.#replaying ? 'earliest' : 'committed',
          fallbackMode: 'earliest',
          ...(resume
            ? { offsets: [...this.#next].map(([partition, offset]) => ({ topic, partition, offset })) }
            : {}),
          sessionTimeout: 10_000,
          rebalanceTimeout: 10_000,
          heartbeatInterval: 1_000,
        },
        // The callback form: listeners are attached before the stream can emit anything.
        (err, stream) => {
          if (err || !stream) return reject(err ?? new Error('kafka consume returned no stream'));
          stream.on('readable', () => this.#wake?.());
          stream.on('error', (e) => {
            state.failure = e;
            this.#wake?.();
          });
          stream.on('close', () => {
            state.ended = true;
            this.#wake?.();
          });
          resolve(stream);
        },
      );
    });
  }

  /** Moves what the stream has ready into the per-partition buffers, skipping records already handled. */
  #readAvailable(stream: Stream): void {
    const cap = this.#maxBatch * 2;
    while (this.#bufferedCount < cap) {
      const m = stream.read() as Msg | null;
      if (m === null) return;
      const expected = this.#taken.get(m.partition) ?? this.#next.get(m.partition) ?? -1n;
      if (m.offset < expected) continue; // re-fetched after a rejoin or reconnect: handled or taken already
      this.#taken.set(m.partition, m.offset + 1n);
      const queue = this.#buffered.get(m.partition) ?? [];
      queue.push(m);
      this.#buffered.set(m.partition, queue);
      this.#bufferedCount++;
    }
  }

  /** After a rebalance: records of partitions now owned by another member are theirs to deliver. */
  #dropUnassigned(): void {
    const owned = new Set(
      this.#consumer.assignments?.find((a) => a.topic === this.#o.topic)?.partitions ?? [],
    );
    for (const [p, queue] of this.#buffered) {
      if (owned.has(p)) continue;
      this.#bufferedCount -= queue.length;
      this.#buffered.delete(p);
      this.#taken.set(p, queue[0]!.offset); // should it come back, these are fetched again
    }
  }

  /** Round-robin over partitions; a batch never mixes replayed and live records. */
  #nextBatch(): { partition: number; replay: boolean; messages: Msg[] } | undefined {
    const partitions = [...this.#buffered.keys()].sort((a, b) => a - b);
    if (!partitions.length) return undefined;
    const partition = partitions.find((p) => p > this.#lastPartition) ?? partitions[0]!;
    this.#lastPartition = partition;
    const queue = this.#buffered.get(partition)!;
    const until = this.#replayUntil?.get(partition) ?? 0n;
    const replay = queue[0]!.offset < until;
    let n = 0;
    while (n < queue.length && n < this.#maxBatch && queue[n]!.offset < until === replay) n++;
    const messages = queue.splice(0, n);
    if (!queue.length) this.#buffered.delete(partition);
    this.#bufferedCount -= n;
    return { partition, replay, messages };
  }

  async #deliver(b: { partition: number; replay: boolean; messages: Msg[] }): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      // A fresh batch object per attempt: a handler that mutated the last one gets the same records again.
      const batch: RecordBatch = {
        partition: b.partition,
        replay: b.replay,
        records: b.messages.map(toStored),
      };
      try {
        await this.#o.handler(batch);
        break;
      } catch (err) {
        this.#o.logger.warn(
          { err, group: this.#o.group, partition: b.partition, records: b.messages.length, attempt },
          'log handler rejected a batch; redelivering after backoff',
        );
        await this.#pause(this.#backoff(attempt));
        if (this.#closing) return; // close: the batch stays uncommitted and is redelivered to the next consumer
      }
    }
    const last = b.messages[b.messages.length - 1]!;
    this.#next.set(b.partition, last.offset + 1n);
    if (b.replay) return; // below the group's committed position already
    this.#pendingCommits.set(b.partition, { offset: last.offset + 1n, leaderEpoch: last.leaderEpoch });
    this.#kickCommit();
  }

  /**
   * Commits run one at a time in the background while the next batch is handled (a broker
   * round trip per batch would halve throughput); only handled offsets are ever committed,
   * so a crash still redelivers at most what was handled but not yet committed.
   */
  #kickCommit(): void {
    if (this.#committing) return;
    this.#committing = this.#flushCommits().finally(() => {
      this.#committing = undefined;
      if (this.#pendingCommits.size && !this.#closing) this.#kickCommit();
    });
  }

  async #flushCommits(): Promise<void> {
    if (!this.#pendingCommits.size) return;
    // Callers other than #kickCommit wait for the commit in flight first: commits stay in order.
    if (this.#committing && !this.#inFlush) {
      await this.#committing;
      if (!this.#pendingCommits.size) return;
    }
    this.#inFlush = true;
    try {
      await this.#commitPending();
    } finally {
      this.#inFlush = false;
    }
  }

  async #commitPending(): Promise<void> {
    const offsets = [...this.#pendingCommits].map(([partition, c]) => ({
      topic: this.#o.topic,
      partition,
      offset: c.offset,
      leaderEpoch: c.leaderEpoch,
    }));
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#consumer.commit({ offsets });
        for (const o of offsets)
          if (this.#pendingCommits.get(o.partition)?.offset === o.offset)
            this.#pendingCommits.delete(o.partition);
        return;
      } catch (err) {
        if (attempt >= 3) {
          // Kept in #pendingCommits for the next batch or session; a crash before then redelivers (at-least-once).
          this.#o.logger.warn(
            { err, group: this.#o.group, offsets: offsets.map((o) => `${o.partition}@${o.offset}`) },
            'kafka offset commit failed; will retry',
          );
          return;
        }
        await this.#pause(this.#backoff(attempt));
      }
    }
  }

  #backoff(attempt: number): number {
    const base = Math.min(MAX_BACKOFF_MS, this.#backoffMs * 2 ** Math.min(attempt, 20));
    return Math.min(MAX_BACKOFF_MS, Math.round(base * (0.8 + Math.random() * 0.4)));
  }

  /** A sleep that close() cuts short. */
  #pause(ms: number): Promise<void> {
    if (this.#closing) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#sleep = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.#sleep = { timer, done };
    });
  }
}

/** The event time is the record timestamp (kafka-log.ts sets it), the id a header. */
export function toStored(m: Msg): StoredRecord {
  return {
    id: m.headers.get('id') ?? '',
    key: m.key,
    ts: Number(m.timestamp),
    body: m.value,
    partition: m.partition,
    offset: Number(m.offset),
  };
}
