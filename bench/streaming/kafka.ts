/**
 * Kafka produce + consume, side by side on the same broker in one run: Backbeat's
 * KafkaEventLog (dedupe window claim + idempotent producer with acks=all + consumer group
 * with commit after the handler) vs a bare @platformatic/kafka producer/consumer loop
 * with the same producer settings vs kafkajs (idempotent, acks -1). Each produces N
 * events (~300 bytes, keyed by user) in batches of 1,000 with 4 batches in flight into a
 * fresh 6-partition topic, and consumes them in a fresh group; the figure is
 * N / (first produce → last record consumed). Prints `RESULT {json}`.
 * Usage: KAFKA_BROKERS=127.0.0.1:19092 node bench/streaming/kafka.ts [N=200000]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Admin,
  Consumer,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';
import { Kafka, logLevel } from 'kafkajs';
import { createLogger } from '../../src/core/observability/index.ts';
import { KafkaEventLog, SqliteDedupeWindow, type LogRecord } from '../../src/streaming/index.ts';

const brokers = (
  process.env['KAFKA_BROKERS'] ??
  process.env['TEST_KAFKA_BROKERS'] ??
  '127.0.0.1:19092'
).split(',');
const N = Number(process.argv[2] ?? 200_000);
const BATCH = 1000;
const IN_FLIGHT = 4;
const PARTITIONS = 6;

const t0 = Date.now();
const records: LogRecord[] = Array.from({ length: N }, (_, i) => {
  const id = randomUUID();
  const key = `u${i % 5000}`;
  const body = JSON.stringify({
    id,
    type: 'track.played',
    v: 1,
    userId: key,
    ts: t0 + i,
    receivedAt: t0 + i,
    data: { trackId: `t${i % 9973}`, artistId: `a${i % 101}`, durationMs: 200000, playedMs: 150000 },
    trace: {},
  });
  return { id, key, ts: t0 + i, body };
});
const batches: LogRecord[][] = [];
for (let i = 0; i < N; i += BATCH) batches.push(records.slice(i, i + BATCH));

async function createTopic(topic: string): Promise<void> {
  const admin = new Admin({ clientId: 'bench-admin', bootstrapBrokers: brokers });
  await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 });
  await admin.close();
}

/** Runs `send` over the batches with IN_FLIGHT concurrent calls. */
async function produceAll(send: (b: LogRecord[]) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < batches.length) await send(batches[next++]!);
    }),
  );
}

async function untilCount(count: () => number): Promise<void> {
  const deadline = Date.now() + 240_000;
  while (count() < N) {
    if (Date.now() > deadline) throw new Error(`consumed only ${count()} of ${N}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function backbeat(): Promise<number> {
  const topic = `bench-bb-${randomUUID()}`;
  const log = new KafkaEventLog({
    brokers,
    topic,
    partitions: PARTITIONS,
    clientId: 'bench-backbeat',
    dedupe: new SqliteDedupeWindow(join(mkdtempSync(join(tmpdir(), 'bb-kbench-')), 'dedupe.db')),
    logger: createLogger('error'),
  });
  await log.start();
  let consumed = 0;
  const consumer = await log.consume(
    `bench-${randomUUID()}`,
    async (b) => void (consumed += b.records.length),
    { maxBatch: 1000 },
  );
  const started = performance.now();
  await produceAll((b) => log.append(b));
  await untilCount(() => consumed);
  const elapsed = performance.now() - started;
  await consumer.close();
  await log.close();
  return N / (elapsed / 1000);
}

async function raw(): Promise<number> {
  const topic = `bench-raw-${randomUUID()}`;
  await createTopic(topic);
  const producer = new Producer({
    clientId: 'bench-raw',
    bootstrapBrokers: brokers,
    idempotent: true,
    acks: ProduceAcks.ALL,
    serializers: stringSerializers,
  });
  const consumer = new Consumer({
    clientId: 'bench-raw-c',
    groupId: `bench-${randomUUID()}`,
    bootstrapBrokers: brokers,
    deserializers: stringDeserializers,
    autocommit: false,
    maxWaitTime: 500,
  });
  let consumed = 0;
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
  stream.on('data', (m) => {
    consumed++;
    // Commit like Backbeat does (after handling), once per 1,000 records.
    if (consumed % 1000 === 0) void m.commit();
  });
  const started = performance.now();
  await produceAll((b) =>
    producer.send({
      messages: b.map((r) => ({ topic, key: r.key, value: r.body, headers: new Map([['id', r.id]]) })),
    }),
  );
  await untilCount(() => consumed);
  const elapsed = performance.now() - started;
  await stream.close();
  await consumer.close(true);
  await producer.close();
  return N / (elapsed / 1000);
}

async function kafkajs(): Promise<number> {
  const topic = `bench-kjs-${randomUUID()}`;
  await createTopic(topic);
  const kafka = new Kafka({ clientId: 'bench-kafkajs', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId: `bench-${randomUUID()}`, maxWaitTimeInMs: 500 });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let consumed = 0;
  await consumer.run({
    autoCommit: true,
    eachBatch: async ({ batch }) => void (consumed += batch.messages.length),
  });
  const started = performance.now();
  await produceAll((b) =>
    producer.send({
      topic,
      acks: -1,
      messages: b.map((r) => ({ key: r.key, value: r.body, headers: { id: r.id } })),
    }),
  );
  await untilCount(() => consumed);
  const elapsed = performance.now() - started;
  await consumer.disconnect();
  await producer.disconnect();
  return N / (elapsed / 1000);
}

// Alternate the order so neither client always gets a warm broker page cache.
const rawPerSec = await raw();
const backbeatPerSec = await backbeat();
const kafkajsPerSec = await kafkajs();
console.log(
  `RESULT ${JSON.stringify({
    events: N,
    backbeatPerSec: Math.round(backbeatPerSec),
    rawPerSec: Math.round(rawPerSec),
    kafkajsPerSec: Math.round(kafkajsPerSec),
    ratioVsRaw: Math.round((backbeatPerSec / rawPerSec) * 100) / 100,
    ratioVsKafkajs: Math.round((backbeatPerSec / kafkajsPerSec) * 100) / 100,
  })}`,
);
process.exit(0);
