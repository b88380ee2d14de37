import type { Counter } from 'prom-client';
import type { Logger } from '../../core/observability/index.ts';
import type { Clock, TimerHandle } from '../../core/time/index.ts';

export interface WebhookOptions {
  url: string;
  clock: Clock;
  logger: Logger;
  /** `backbeat_alerts_webhook_total{outcome}`: delivered, retried, rejected, failed, dropped. */
  outcomes: Counter<'outcome'>;
  /** Per attempt. @default 5000 */
  timeoutMs?: number;
  /** Attempts per alert, the first included. @default 5 */
  maxAttempts?: number;
  /** Wait before the 2nd attempt; doubles each time, up to maxDelayMs. @default 500 */
  baseDelayMs?: number;
  /** @default 30000 */
  maxDelayMs?: number;
  /** Alerts waiting; when full the oldest is dropped (and counted). @default 100 */
  maxQueue?: number;
  /** For tests. @default globalThis.fetch */
  fetch?: typeof fetch;
}

export type WebhookOutcome = 'delivered' | 'retried' | 'rejected' | 'failed' | 'dropped';

/** A 4xx other than these means the receiver refuses the alert: retrying cannot help. */
const RETRIABLE_4XX = new Set([408, 425, 429]);

/**
 * POSTs alert changes as JSON to ALERT_WEBHOOK_URL, one at a time and in order, from a
 * bounded queue: `enqueue` never waits (a full queue drops its oldest alert, counted as
 * `dropped`). Each attempt has a timeout; network errors, timeouts, 5xx, 408, 425 and 429
 * are retried with exponential backoff up to `maxAttempts`, then the alert is `failed`;
 * other 4xx are `rejected` at once. A dead or hanging receiver therefore costs the queue
 * at most `maxQueue` alerts and never blocks the caller.
 */
export class WebhookSender {
  readonly #o: Required<Omit<WebhookOptions, 'fetch'>> & { fetch: typeof fetch };
  readonly #queue: string[] = [];
  #worker: Promise<void> | undefined;
  #closed = false;
  #abort: AbortController | undefined;
  #wait: { timer: TimerHandle; resolve: () => void } | undefined;

  constructor(opts: WebhookOptions) {
    this.#o = {
      url: opts.url,
      clock: opts.clock,
      logger: opts.logger,
      outcomes: opts.outcomes,
      timeoutMs: opts.timeoutMs ?? 5000,
      maxAttempts: Math.max(1, opts.maxAttempts ?? 5),
      baseDelayMs: opts.baseDelayMs ?? 500,
      maxDelayMs: opts.maxDelayMs ?? 30_000,
      maxQueue: Math.max(1, opts.maxQueue ?? 100),
      fetch: opts.fetch ?? globalThis.fetch.bind(globalThis),
    };
  }

  /** Alerts waiting (not counting the one being sent). */
  get pending(): number {
    return this.#queue.length;
  }

  /** Queues one alert; returns at once. */
  enqueue(body: unknown): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#o.maxQueue) {
      this.#queue.shift();
      this.#count('dropped');
      this.#o.logger.warn(
        { url: this.#o.url, maxQueue: this.#o.maxQueue },
        'alert webhook queue full: oldest alert dropped',
      );
    }
    this.#queue.push(JSON.stringify(body));
    this.#worker ??= this.#drain().finally(() => (this.#worker = undefined));
  }

  /** Resolves when every queued alert has been delivered or given up (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#worker) await this.#worker;
  }

  /** Stops: the attempt in flight is aborted, waiting alerts are discarded. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#queue.length = 0;
    this.#abort?.abort(new Error('closing'));
    if (this.#wait) {
      this.#wait.timer.cancel();
      this.#wait.resolve();
    }
    await this.#worker;
  }

  async #drain(): Promise<void> {
    for (let body = this.#queue.shift(); body !== undefined && !this.#closed; body = this.#queue.shift()) {
      await this.#deliver(body);
    }
  }

  async #deliver(body: string): Promise<void> {
    const o = this.#o;
    for (let attempt = 1; !this.#closed; attempt++) {
      const result = await this.#attempt(body);
      if (this.#closed) return;
      if (result.ok) return this.#count('delivered');
      if (!result.retriable) {
        this.#o.logger.warn(
          { url: o.url, status: result.detail },
          'alert webhook rejected the alert; not retried',
        );
        return this.#count('rejected');
      }
      if (attempt >= o.maxAttempts) {
        this.#o.logger.warn(
          { url: o.url, attempts: attempt, error: result.detail },
          'alert webhook failed; alert given up',
        );
        return this.#count('failed');
      }
      this.#count('retried');
      const delay = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (attempt - 1));
      this.#o.logger.debug(
        { url: o.url, attempt, delayMs: delay, error: result.detail },
        'alert webhook attempt failed; retrying',
      );
      await new Promise<void>((resolve) => {
        this.#wait = { timer: o.clock.setTimeout(resolve, delay), resolve };
      });
      this.#wait = undefined;
    }
  }

  async #attempt(body: string): Promise<{ ok: boolean; retriable: boolean; detail: string }> {
    const abort = new AbortController();
    this.#abort = abort;
    const timer = this.#o.clock.setTimeout(
      () => abort.abort(new Error(`timed out after ${this.#o.timeoutMs} ms`)),
      this.#o.timeoutMs,
    );
    try {
      const res = await this.#o.fetch(this.#o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'backbeat-alerts' },
        body,
        signal: abort.signal,
        redirect: 'error',
      });
      // Drain the body so the connection can be reused; its content does not matter.
      await res.arrayBuffer().catch(() => undefined);
      const retriable = res.status >= 500 || RETRIABLE_4XX.has(res.status);
      return { ok: res.ok, retriable, detail: `HTTP ${res.status}` };
    } catch (err) {
      const reason: unknown = abort.signal.aborted ? abort.signal.reason : err;
      return {
        ok: false,
        retriable: true,
        detail: reason instanceof Error ? reason.message : String(reason),
      };
    } finally {
      timer.cancel();
      this.#abort = undefined;
    }
  }

  #count(outcome: WebhookOutcome): void {
    this.#o.outcomes.inc({ outcome });
  }
}
