import type { JobRepository, Outcome } from '../../core/store/index.ts';
import type { PushMetrics } from '../metrics.ts';

/**
 * Records outcomes as they arrive, with group commit: the write starts on the next turn of
 * the event loop (`setImmediate`), so every outcome whose answer arrived in this turn's I/O
 * goes into the same transaction; outcomes that arrive while a commit runs go into the
 * next. No timer and no batch window: an outcome waits at most one loop turn plus the
 * commit in progress, so a crash loses at most what was in flight. (The embedded store is
 * synchronous: writing at once would commit — and fsync — one outcome per transaction.)
 */
export class OutcomeWriter {
  readonly #jobs: JobRepository;
  readonly #metrics: PushMetrics;
  #queue: Array<{ outcome: Outcome; resolve: (ok: boolean) => void; reject: (err: unknown) => void }> = [];
  #writing: Promise<void> | undefined;

  constructor(jobs: JobRepository, metrics: PushMetrics) {
    this.#jobs = jobs;
    this.#metrics = metrics;
  }

  record(outcome: Outcome): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ outcome, resolve, reject });
      this.#writing ??= new Promise<void>((r) => setImmediate(r)).then(() => this.#drain());
    });
  }

  /** Resolves when everything recorded so far is written. */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        this.#metrics.outcomeWrites.observe(batch.length);
        try {
          const results = await this.#jobs.recordOutcomes(batch.map((b) => b.outcome));
          batch.forEach((b, i) => b.resolve(results[i] ?? false));
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
        // Let this turn's answers arrive before the next commit.
        if (this.#queue.length > 0) await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.#writing = undefined;
    }
  }
}
