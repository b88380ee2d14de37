import { Admin, murmur2, ProduceAcks, Producer, stringSerializers, findErrorBy, type MessageToProduce } from '@platformatic/kafka';
import { UnavailableError } from '../../core/errors/index.ts';
import type { Logger } from '../../core/observability/index.ts';
import type { DedupeWindow } from './dedupe.ts';
import { KafkaLogConsumer } from './kafka-consumer.ts';
import type { AppendResult, BatchHandler, ConsumeOptions, EventLog, LogConsumer, LogHealth, LogRecord } from './port.ts';

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
}

type Message = MessageToProduce<string, string, string, string>;

/** True when `err` means the broker could not be reached or could not serve for now. */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return !!(findErrorBy(err, 'code', 'PLT_KFK_NETWORK') || findErrorBy(err, 'code', 'PLT_KFK_TIMEOUT') || findErrorBy(err, 'canRetry', true));
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
    this.#admin = new Admin({ ...base, retries: 1, retryDelay: 250, requestTimeout: 5_000 });
    this.#producer = new Producer({
      ...base,
      idempotent: true,
      acks: ProduceAcks.ALL,
      serializers: stringSerializers,
      requestTimeout: 10_000,
      // Bounded: an append against a dead broker rejects after ~3 s instead of hanging.
      retries: 5,
      retryDelay: (_client, _op, attempt) => Math.min(1_000, 100 * 2 ** attempt),
    });
    this.#producer.on('client:broker:disconnect', () => this.#unhealthy('connection to the kafka broker lost'));
    this.#producer.on('client:broker:failed', () => this.#unhealthy('cannot connect to the kafka broker'));
  }

  /** Creates the topic when missing (tolerating a concurrent creator), then starts the health probe. */
  async start(): Promise<void> {
    if (this.#started) return;
    const { topic, replicationFactor = 1 } = this.#o;
    try {
      const existing = await this.#admin.listTopics();
      if (!existing.includes(topic)) {
        await this.#admin.createTopics({ topics: [topic], partitions: this.#partitions, replicas: replicationFactor }).catch((err: unknown) => {
          if (!(err instanceof Error && findErrorBy(err, 'apiId', 'TOPIC_ALREADY_EXISTS'))) throw err;
        });
      }
      this.#partitions = await this.#partitionCount();
    } catch (err) {
      this.#unhealthy(`kafka start failed: ${message(err)}`);
      throw this.#convert(err, `cannot start the kafka log on topic ${topic}`);
    }
    if (this.#partitions !== (this.#o.partitions ?? 6)) {
      this.#o.logger.warn({ topic, partitions: this.#partitions, configured: this.#o.partitions ?? 6 }, 'kafka topic exists with another partition count; using it');
    }
    this.#started = true;
    this.#health = { ok: true };
    this.#probe = setInterval(() => void this.#checkHealth(), this.#o.healthIntervalMs ?? 2_000);
    this.#probe.unref();
  }

  partitionOf(key: string): number {
    return (murmur2(key) & 0x7fffffff) % this.#partitions;
  }

  async append(records: readonly LogRecord[]): Promise<AppendResult[]> {
    if (!this.#started || this.#closed) throw new UnavailableError('kafka log is not started');
    if (!records.length) return [];
    const dup = await this.#o.dedupe.claim(records.map((r) => r.id));
    const fresh = records.filter((_, i) => !dup[i]);
    const out: AppendResult[] = records.map((r) => ({ partition: this.partitionOf(r.key), offset: -1, duplicate: true }));
    if (!fresh.length) return out;
    const messages: Message[] = [];
    records.forEach((r, i) => {
      if (!dup[i]) messages.push(this.#message(r, out[i]!.partition));
    });
    let result;
    try {
      result = await this.#producer.send({ messages });
    } catch (err) {
      await this.#o.dedupe.release(fresh.map((r) => r.id));
      throw this.#convert(err, `kafka append of ${fresh.length} records failed`);
    }
    this.#healthy();
    // One base offset per partition; the records of a partition follow it in send order.
    const base = new Map((result.offsets ?? []).filter((o) => o.topic === this.#o.topic).map((o) => [o.partition, o.offset]));
    const seen = new Map<number, number>();
    records.forEach((r, i) => {
      if (dup[i]) return;
      const p = out[i]!.partition;
      const first = base.get(p);
      if (first === undefined) throw new Error(`kafka produce response lacks partition ${p} of topic ${this.#o.topic}`);
      const n = seen.get(p) ?? 0;
      seen.set(p, n + 1);
      out[i] = { partition: p, offset: Number(first) + n, duplicate: false };
    });
    return out;
  }

  async consume(group: string, handler: BatchHandler, opts: ConsumeOptions = {}): Promise<LogConsumer> {
    if (!this.#started || this.#closed) throw new UnavailableError('kafka log is not started');
    const c = new KafkaLogConsumer({ ...opts, brokers: this.#o.brokers, clientId: `${this.#o.clientId}-${group}`, topic: this.#o.topic, group, handler, logger: this.#o.logger });
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
    const partitions = Array.from({ length: this.#partitions }, (_, partitionIndex) => ({ partitionIndex, timestamp: -1n }));
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

  async close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    clearInterval(this.#probe);
    this.#health = { ok: false, detail: 'closed' };
    const step = (what: string, p: Promise<unknown>) => p.catch((err: unknown) => this.#o.logger.warn({ err, topic: this.#o.topic }, `kafka log close: ${what} failed`));
    await Promise.all([...this.#consumers].map((c) => step('consumer', c.close())));
    await Promise.all([step('producer', this.#producer.close()), step('admin', this.#admin.close()), step('dedupe', this.#o.dedupe.close())]);
  }

  /** The event time travels as the record timestamp, the id as a header (for Kafka tooling). */
  #message(r: LogRecord, partition: number): Message {
    return { topic: this.#o.topic, partition, key: r.key, value: r.body, timestamp: BigInt(r.ts), headers: new Map([['id', r.id]]) };
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

function message(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const inner = err instanceof AggregateError && err.errors.length ? `: ${message(err.errors[0])}` : err.cause ? `: ${message(err.cause)}` : '';
  return `${err.message}${inner}`;
}
