import type { JobRepository, Outcome } from '../../core/store/index.ts';
import type { PushMetrics } from '../metrics.ts';

/**
 * Records outcomes as they arrive, with group commit: an outcome is written at once when
 * no write is running; outcomes that arrive while one is (the store is fsyncing) go
 * together in the next transaction. No timer and no batch window: each outcome waits at
 * most for the commit in progress, so a crash loses at most what was in flight.
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
      this.#writing ??= this.#drain();
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
      }
    } finally {
      this.#writing = undefined;
    }
  }
}
