import { randomUUID } from 'node:crypto';
import type { Admin, Producer, MessageToProduce } from '@platformatic/kafka';
import { kafkaClient } from './kafka-client.ts';
import { UnavailableError } from '../../core/errors/index.ts';
import type { Logger } from '../../core/observability/index.ts';
import type { RecordCipher } from '../crypto/cipher.ts';
import type { DedupeWindow } from './dedupe.ts';
import { KafkaLogConsumer, toStored } from './kafka-consumer.ts';
import {
  ERASURE_EVENT_TYPE,
  type AppendResult,
  type BatchHandler,
  type ConsumeOptions,
  type EventLog,
  type KeyErasure,
  type LogConsumer,
  type LogHealth,
  type LogRecord,
  type StoredRecord,
} from './port.ts';

/**
 * The cluster event log: one Kafka topic, records keyed by `key` (the user id), so a
 * user's events share a partition and keep their order. The EventLog contract (port.ts)
 * on Kafka:
 * - append: ids are claimed in the DedupeWindow first (Kafka's idempotent producer only
 *   drops its own retries, not a client's resend); the rest is produced with an idempotent
 *   producer, acks=all, and the call resolves only with the broker's offsets, so a
 *   resolved append is durable. On failure the claimed ids are released and the error is
 *   rethrown (UnavailableError while the broker is unreachable): a rejected append may
 *   still have been written, never the other way round. Duplicates report the partition
 *   of their key and offset -1 (the original offset is not known).
 * - partition = (murmur2(key) & 0x7fffffff) % partitions: the Java client's default, so
 *   other Kafka clients agree on where a user's events live.
 * - consume: one consumer group member per call (kafka-consumer.ts: commit after the
 *   handler, redelivery on rejection, replay from earliest).
 * - health: a metadata probe every `healthIntervalMs`; failed operations flip it at once.
 * - the log owns `dedupe` and closes it in close().
 * - crypto-shredding (SPEC §7, with `cipher`): every body is encrypted at append under its
 *   user's data key and decrypted before the handler sees it; `eraseKey` destroys the
 *   user's keys (the records stay in the topic until retention, unreadable: consumers get
 *   them `shredded`) and appends an erasure marker (a plaintext `backbeat.user.erased`
 *   record keyed by the user, carrying nothing else) so every node's processor forgets
 *   the user's state when it reaches it.
 */
export interface KafkaEventLogOptions {
  brokers: string[];
  topic: string;
  /** @default 6 */
  partitions?: number;
  /** @default 1 */
  replicationFactor?: number;
  clientId: string;
  dedupe: DedupeWindow;
  logger: Logger;
  /** @default 2000 */
  healthIntervalMs?: number;
  /** Encrypts bodies per user (crypto-shredding). Without one, bodies are stored as they are and `eraseKey` refuses. */
  cipher?: RecordCipher;
  /** Whether close() closes the cipher (false when another log shares it, e.g. the dead-letter topic). @default true */
  ownsCipher?: boolean;
  /** Longest a `readKey` scan may take, ms. @default 60_000 */
  scanTimeoutMs?: number;
}

type Message = MessageToProduce<string, string, string, string>;

/** True when `err` means the broker could not be reached or could not serve for now. */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return !!(
    kafkaClient().findErrorBy(err, 'code', 'PLT_KFK_NETWORK') ||
    kafkaClient().findErrorBy(err, 'code', 'PLT_KFK_TIMEOUT') ||
    kafkaClient().findErrorBy(err, 'canRetry', true)
  );
}

export class KafkaEventLog implements EventLog {
  readonly kind = 'kafka' as const;
  readonly #o: KafkaEventLogOptions;
  #partitions: number;
  readonly #admin: Admin;
  readonly #producer: Producer<string, string, string, string>;
  readonly #consumers = new Set<KafkaLogConsumer>();
  #health: LogHealth = { ok: false, detail: 'not started' };
  #probe: NodeJS.Timeout | undefined;
  #probing = false;
  #started = false;
  #closed: Promise<void> | undefined;

  constructor(o: KafkaEventLogOptions) {
    this.#o = o;
    this.#partitions = o.partitions ?? 6;
    const base = { clientId: o.clientId, bootstrapBrokers: o.brokers, connectTimeout: 3_000, timeout: 5_000 };
    // requestTimeout bounds a request to a broker that accepts connections but does not answer.
    this.#admin = new (kafkaClient().Admin)({ ...base, retries: 1, retryDelay: 250, requestTimeout: 5_000 });
    this.#producer = new (kafkaClient().Producer)({
      ...base,
      idempotent: true,
      acks: kafkaClient().ProduceAcks.ALL,
      serializers: kafkaClient().stringSerializers,
      requestTimeout: 10_000,
      // Bounded: an append against a dead broker rejects after ~3 s instead of hanging.
      retries: 5,
      retryDelay: (_client, _op, attempt) => Math.min(1_000, 100 * 2 ** attempt),
    });
    this.#producer.on('client:broker:disconnect', () =>
      this.#unhealthy('connection to the kafka broker lost'),
    );
    this.#producer.on('client:broker:failed', () => this.#unhealthy('cannot connect to the kafka broker'));
  }

  /** Creates the topic when missing (tolerating a concurrent creator), then starts the health probe. */
  async start(): Promise<void> {
    if (this.#started) return;
    const { topic, replicationFactor = 1 } = this.#o;
    try {
      await this.#o.cipher?.start();
      const existing = await this.#admin.listTopics();
      if (!existing.includes(topic)) {
        await this.#admin
          .createTopics({ topics: [topic], partitions: this.#partitions, replicas: replicationFactor })
          .catch((err: unknown) => {
            if (!(err instanceof Error && kafkaClient().findErrorBy(err, 'apiId', 'TOPIC_ALREADY_EXISTS')))
              throw err;
          });
      }
      this.#partitions = await this.#partitionCount();
    } catch (err) {
      this.#unhealthy(`kafka start failed: ${message(err)}`);
      throw this.#convert(err, `cannot start the kafka log on topic ${topic}`);
    }
    if (this.#partitions !== (this.#o.partitions ?? 6)) {
      this.#o.logger.warn(
        { topic, partitions: this.#partitions, configured: this.#o.partitions ?? 6 },
        'kafka topic exists with another partition count; using it',
      );
    }
    this.#started = true;
    this.#health = { ok: true };
    this.#probe = setInterval(() => void this.#checkHealth(), this.#o.healthIntervalMs ?? 2_000);
    this.#probe.unref();
  }

  partitionOf(key: string): number {
    return (kafkaClient().murmur2(key) & 0x7fffffff) % this.#partitions;
  }

  async append(records: readonly LogRecord[]): Promise<AppendResult[]> {
    if (!this.#started || this.#closed) throw new UnavailableError('kafka log is not started');
    if (!records.length) return [];
    const dup = await this.#o.dedupe.claim(records.map((r) => r.id));
    const fresh = records.filter((_, i) => !dup[i]);
    const out: AppendResult[] = records.map((r) => ({
      partition: this.partitionOf(r.key),
      offset: -1,
      duplicate: true,
    }));
    if (!fresh.length) return out;
    let result;
    try {
      const bodies = this.#o.cipher ? await this.#o.cipher.seal(fresh) : fresh;
      let next = 0;
      const messages: Message[] = [];
      records.forEach((_, i) => {
        if (!dup[i]) messages.push(this.#message(bodies[next++]!, out[i]!.partition));
      });
      result = await this.#producer.send({ messages });
    } catch (err) {
      await this.#o.dedupe.release(fresh.map((r) => r.id));
      throw this.#convert(err, `kafka append of ${fresh.length} records failed`);
    }
    this.#healthy();
    // One base offset per partition; the records of a partition follow it in send order.
    const base = new Map(
      (result.offsets ?? []).filter((o) => o.topic === this.#o.topic).map((o) => [o.partition, o.offset]),
    );
    const seen = new Map<number, number>();
    records.forEach((r, i) => {
      if (dup[i]) return;
      const p = out[i]!.partition;
      const first = base.get(p);
      if (first === undefined)
        throw new Error(`kafka produce response lacks partition ${p} of topic ${this.#o.topic}`);
      const n = seen.get(p) ?? 0;
      seen.set(p, n + 1);
      out[i] = { partition: p, offset: Number(first) + n, duplicate: false };
    });
    return out;
  }

  async consume(group: string, handler: BatchHandler, opts: ConsumeOptions = {}): Promise<LogConsumer> {
    if (!this.#started || this.#closed) throw new UnavailableError('kafka log is not started');
    const cipher = this.#o.cipher;
    // Decrypted per delivery: a key destroyed while records wait in the buffer makes them shredded.
    const deliver: BatchHandler = cipher
      ? async (b) => handler({ ...b, records: await cipher.open(b.records) })
      : handler;
    const c = new KafkaLogConsumer({
      ...opts,
      brokers: this.#o.brokers,
      clientId: `${this.#o.clientId}-${group}`,
      topic: this.#o.topic,
      group,
      handler: deliver,
      logger: this.#o.logger,
    });
    this.#consumers.add(c);
    await c.start();
    return {
      close: async () => {
        await c.close();
        this.#consumers.delete(c);
      },
    };
  }

  async heads(): Promise<Record<number, number>> {
    const partitions = Array.from({ length: this.#partitions }, (_, partitionIndex) => ({
      partitionIndex,
      timestamp: -1n,
    }));
    let listed;
    try {
      listed = await this.#admin.listOffsets({ topics: [{ name: this.#o.topic, partitions }] });
    } catch (err) {
      throw this.#convert(err, 'kafka heads failed');
    }
    const out: Record<number, number> = {};
    for (const p of listed.find((t) => t.name === this.#o.topic)?.partitions ?? []) {
      if (p.offset > 0n) out[p.partitionIndex] = Number(p.offset) - 1; // the high watermark is one past the last record
    }
    return out;
  }

  health(): LogHealth {
    return this.#health;
  }

  /**
   * Every readable record of `key` (GDPR export): scans the key's partition from the
   * earliest retained offset to the head as it was when called, with a throwaway consumer
   * group (nothing is committed). Costs a read of that partition; bounded by `scanTimeoutMs`.
   */
  async readKey(key: string, opts: { limit?: number } = {}): Promise<StoredRecord[]> {
    if (!this.#started || this.#closed) throw new UnavailableError('kafka log is not started');
    const partition = this.partitionOf(key);
    const last = (await this.heads())[partition];
    if (last === undefined) return [];
    const limit = opts.limit ?? Number.MAX_SAFE_INTEGER;
    const consumer = new (kafkaClient().Consumer)({
      clientId: `${this.#o.clientId}-export`,
      groupId: `backbeat-export-${randomUUID()}`,
      bootstrapBrokers: this.#o.brokers,
      deserializers: kafkaClient().stringDeserializers,
      autocommit: false,
      maxWaitTime: 200,
      connectTimeout: 3_000,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
    consumer.on('error', (err: unknown) =>
      this.#o.logger.warn({ err, topic: this.#o.topic }, 'kafka export scan: consumer error'),
    );
    const found: StoredRecord[] = [];
    let timer: NodeJS.Timeout | undefined;
    try {
      const stream = await consumer.consume({ topics: [this.#o.topic], mode: 'earliest', autocommit: false });
      const scan = (async () => {
        for await (const m of stream as AsyncIterable<Parameters<typeof toStored>[0]>) {
          if (m.partition !== partition) continue;
          if (m.key === key) found.push(toStored(m));
          if (m.offset >= BigInt(last) || found.length >= limit) break;
        }
      })();
      const timeoutMs = this.#o.scanTimeoutMs ?? 60_000;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new UnavailableError(
                `kafka export scan of ${this.#o.topic}[${partition}] did not reach offset ${last} within ${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
        );
      });
      try {
        await Promise.race([scan, expired]);
      } finally {
        await stream.close().catch(() => undefined);
      }
    } catch (err) {
      throw this.#convert(err, `kafka export scan of ${this.#o.topic} failed`);
    } finally {
      clearTimeout(timer);
      await consumer.close(true).catch(() => undefined);
    }
    const records = this.#o.cipher ? await this.#o.cipher.open(found) : found;
    return records.filter((r) => !r.shredded && !isErasureMarker(r.body));
  }

  forgetKey(key: string): void {
    this.#o.cipher?.forget(key);
  }

  /**
   * Crypto-shredding of `key` (see the header): destroys its data keys, then appends the
   * erasure marker (never encrypted: the user has no key any more, and it must not get one).
   */
  async eraseKey(key: string): Promise<KeyErasure> {
    if (!this.#started || this.#closed) throw new UnavailableError('kafka log is not started');
    const cipher = this.#o.cipher;
    if (!cipher)
      throw new Error(
        `kafka topic ${this.#o.topic} has no record cipher: its records cannot be erased (they are not encrypted)`,
      );
    const keysDestroyed = await cipher.destroy(key);
    const now = Date.now();
    const id = `erasure-${randomUUID()}`;
    const body = JSON.stringify({
      id,
      type: ERASURE_EVENT_TYPE,
      v: 1,
      userId: key,
      ts: now,
      receivedAt: now,
      data: {},
      trace: {},
    });
    const partition = this.partitionOf(key);
    let result;
    try {
      result = await this.#producer.send({
        messages: [this.#message({ id, key, ts: now, body }, partition)],
      });
    } catch (err) {
      throw this.#convert(err, 'kafka append of an erasure marker failed');
    }
    const offset = (result.offsets ?? []).find(
      (o) => o.topic === this.#o.topic && o.partition === partition,
    )?.offset;
    return {
      deleted: 0,
      keysDestroyed,
      ...(offset !== undefined ? { marker: { partition, offset: Number(offset) } } : {}),
    };
  }

  async close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    clearInterval(this.#probe);
    this.#health = { ok: false, detail: 'closed' };
    const step = (what: string, p: Promise<unknown>) =>
      p.catch((err: unknown) =>
        this.#o.logger.warn({ err, topic: this.#o.topic }, `kafka log close: ${what} failed`),
      );
    await Promise.all([...this.#consumers].map((c) => step('consumer', c.close())));
    await Promise.all([
      step('producer', this.#producer.close()),
      step('admin', this.#admin.close()),
      step('dedupe', this.#o.dedupe.close()),
    ]);
    if (this.#o.cipher && this.#o.ownsCipher !== false) await step('key store', this.#o.cipher.close());
  }

  /** The event time travels as the record timestamp, the id as a header (for Kafka tooling). */
  #message(r: LogRecord, partition: number): Message {
    return {
      topic: this.#o.topic,
      partition,
      key: r.key,
      value: r.body,
      timestamp: BigInt(r.ts),
      headers: new Map([['id', r.id]]),
    };
  }

  async #partitionCount(): Promise<number> {
    const meta = await this.#admin.metadata({ topics: [this.#o.topic], forceUpdate: true });
    const count = meta.topics.get(this.#o.topic)?.partitionsCount;
    if (!count) throw new Error(`kafka topic ${this.#o.topic} has no partitions in the metadata`);
    return count;
  }

  async #checkHealth(): Promise<void> {
    if (this.#probing || this.#closed) return;
    this.#probing = true;
    try {
      await this.#admin.metadata({ topics: [this.#o.topic], forceUpdate: true });
      this.#healthy();
    } catch (err) {
      this.#unhealthy(`kafka unreachable: ${message(err)}`);
    } finally {
      this.#probing = false;
    }
  }

  #healthy(): void {
    if (!this.#closed && this.#started) this.#health = { ok: true };
  }

  #unhealthy(detail: string): void {
    if (this.#closed) return;
    if (this.#health.ok) this.#o.logger.warn({ topic: this.#o.topic, detail }, 'kafka log unhealthy');
    this.#health = { ok: false, detail };
  }

  #convert(err: unknown, what: string): Error {
    if (isUnavailable(err)) {
      this.#unhealthy(`kafka unreachable: ${message(err)}`);
      return new UnavailableError(`${what}: kafka unreachable (${message(err)})`, { cause: err });
    }
    return err instanceof Error ? err : new Error(`${what}: ${String(err)}`);
  }
}

function isErasureMarker(body: string): boolean {
  return body.startsWith('{') && body.includes(`"type":"${ERASURE_EVENT_TYPE}"`);
}

function message(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const inner =
    err instanceof AggregateError && err.errors.length
      ? `: ${message(err.errors[0])}`
      : err.cause
        ? `: ${message(err.cause)}`
        : '';
  return `${err.message}${inner}`;
}
