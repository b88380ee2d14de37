import type { EventLog } from '../log/index.ts';
import type { DeadLetter, DeadLetterStore } from './store.ts';

/**
 * Dead letters kept in the node's store (listing, replay, removal) and also produced to a
 * dead-letter topic (`<topic>.dlt` with the Kafka log), so Kafka tooling and other
 * consumers see them: each record is the dead letter as JSON (event, error, attempts,
 * handler), keyed by the user. A put resolves only when both have it; if the topic
 * cannot take it the put fails and the stream processor redelivers the batch.
 * GDPR: the topic log encrypts each record under the user's data key (the same key store
 * as the event topic), so erasing the user shreds their dead-letter records too; the
 * node's own store deletes them.
 */
export class MirroredDeadLetterStore implements DeadLetterStore {
  readonly #store: DeadLetterStore;
  readonly #topic: EventLog;
  #started: Promise<void> | undefined;

  constructor(store: DeadLetterStore, topic: EventLog) {
    this.#store = store;
    this.#topic = topic;
  }

  async put(dl: DeadLetter): Promise<void> {
    await this.#store.put(dl);
    this.#started ??= this.#topic.start();
    await this.#started;
    // Each failure is its own record: the id carries the attempt count and time.
    await this.#topic.append([
      {
        id: `${dl.id}#${dl.attempts}#${dl.lastFailedAt}`,
        key: dl.event.userId,
        ts: dl.lastFailedAt,
        body: JSON.stringify(dl),
      },
    ]);
  }

  list(opts: { limit: number; after?: string; handler?: string }): Promise<DeadLetter[]> {
    return this.#store.list(opts);
  }

  get(ids: readonly string[]): Promise<DeadLetter[]> {
    return this.#store.get(ids);
  }

  remove(ids: readonly string[]): Promise<number> {
    return this.#store.remove(ids);
  }

  count(): Promise<number> {
    return this.#store.count();
  }

  take(opts: { ids?: readonly string[]; limit: number; leaseMs: number }): Promise<DeadLetter[]> {
    return this.#store.take(opts);
  }

  release(ids: readonly string[]): Promise<void> {
    return this.#store.release(ids);
  }

  forUser(userId: string): Promise<DeadLetter[]> {
    return this.#store.forUser(userId);
  }

  eraseUser(userId: string): Promise<number> {
    return this.#store.eraseUser(userId);
  }

  async close(): Promise<void> {
    await Promise.all([this.#store.close(), this.#topic.close()]);
  }
}
