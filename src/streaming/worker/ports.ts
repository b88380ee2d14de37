import type { DeadLetter, DeadLetterStore } from '../dlq/store.ts';
import type {
  AppendResult,
  BatchHandler,
  ConsumeOptions,
  EventLog,
  KeyErasure,
  LogConsumer,
  LogHealth,
  RecordBatch,
  StoredRecord,
} from '../log/port.ts';

/** Calls the main thread (WorkerHost): `op`, its arguments, a timeout in ms (0: none). */
export type MainCall = <T>(op: string, args: unknown[], timeoutMs?: number) => Promise<T>;

const notHere = (what: string): never => {
  throw new Error(`${what} is done by the main thread, not in the stream worker`);
};

/**
 * The EventLog port as the worker's StreamProcessor sees it. The worker opens no database
 * or broker connection: `consume` asks the main thread to open a consumer of the real log
 * (SQLite or Kafka, decrypted there) for the worker's group, from the position the
 * worker's snapshot covers; the main thread posts each RecordBatch here (`deliver`) and
 * commits it only once the handler below resolved. `heads` is read on the main thread too.
 * Intake (append), GDPR reads and erasure stay on the main thread.
 */
export class PortEventLog implements EventLog {
  readonly kind: EventLog['kind'];
  readonly #call: MainCall;
  readonly #handlers = new Map<number, BatchHandler>();
  #next = 1;

  constructor(kind: EventLog['kind'], call: MainCall) {
    this.kind = kind;
    this.#call = call;
  }

  async start(): Promise<void> {}

  append(): Promise<AppendResult[]> {
    return notHere('append');
  }

  async consume(group: string, handler: BatchHandler, opts: ConsumeOptions = {}): Promise<LogConsumer> {
    // Registered before asking: the main thread may post the first batch before its reply.
    const cid = this.#next++;
    this.#handlers.set(cid, handler);
    try {
      await this.#call('consume', [cid, group, opts.from ?? 'committed', opts.maxBatch ?? 500], 60_000);
    } catch (err) {
      this.#handlers.delete(cid);
      throw err;
    }
    return {
      close: async () => {
        if (!this.#handlers.has(cid)) return;
        // The main thread stops fetching and waits for the batch in flight (handled here).
        await this.#call('consumerClose', [cid], 0);
        this.#handlers.delete(cid);
      },
    };
  }

  /** A batch the main thread read for consumer `cid`: resolves once handled (then it commits). */
  deliver(cid: number, batch: RecordBatch): Promise<void> {
    const h = this.#handlers.get(cid);
    if (!h) return Promise.reject(new Error(`no consumer ${cid} in the stream worker`));
    return h(batch);
  }

  heads(): Promise<Record<number, number>> {
    return this.#call('heads', []);
  }

  readKey(): Promise<StoredRecord[]> {
    return notHere('readKey');
  }

  eraseKey(): Promise<KeyErasure> {
    return notHere('eraseKey');
  }

  health(): LogHealth {
    return { ok: true };
  }

  async close(): Promise<void> {}
}

/**
 * The DeadLetterStore port in the worker: every call goes to the main thread's real store
 * (SQLite, PostgreSQL or Redis, mirrored to Kafka), which keeps all DLQ bookkeeping.
 */
export class PortDeadLetterStore implements DeadLetterStore {
  readonly #call: MainCall;

  constructor(call: MainCall) {
    this.#call = call;
  }

  #dlq<T>(method: keyof DeadLetterStore, ...args: unknown[]): Promise<T> {
    return this.#call('dlq', [method, args]);
  }

  put(dl: DeadLetter): Promise<void> {
    return this.#dlq('put', dl);
  }
  list(opts: { limit: number; after?: string; handler?: string }): Promise<DeadLetter[]> {
    return this.#dlq('list', opts);
  }
  get(ids: readonly string[]): Promise<DeadLetter[]> {
    return this.#dlq('get', ids);
  }
  remove(ids: readonly string[]): Promise<number> {
    return this.#dlq('remove', ids);
  }
  count(): Promise<number> {
    return this.#dlq('count');
  }
  take(opts: { ids?: readonly string[]; limit: number; leaseMs: number }): Promise<DeadLetter[]> {
    return this.#dlq('take', opts);
  }
  release(ids: readonly string[]): Promise<void> {
    return this.#dlq('release', ids);
  }
  forUser(userId: string): Promise<DeadLetter[]> {
    return this.#dlq('forUser', userId);
  }
  eraseUser(userId: string): Promise<number> {
    return this.#dlq('eraseUser', userId);
  }
  /** The store belongs to the main thread: closing the worker's view closes nothing. */
  async close(): Promise<void> {}
}
