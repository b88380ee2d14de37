import CircuitBreaker from 'opossum';
import { BackbeatError, InternalError, UnavailableError } from '../errors/index.ts';
import type { Logger, Metrics } from '../observability/index.ts';

export interface BreakerOptions {
  /** Call timeout before it counts as a failure. @default 5000 ms */
  timeoutMs?: number;
  /** Failure percentage in the rolling window that opens the breaker. @default 50 */
  errorThresholdPercentage?: number;
  /** Time the breaker stays open before letting one trial call through. @default 5000 ms */
  resetTimeoutMs?: number;
  /** Minimum calls in the window before the breaker may open. @default 5 */
  volumeThreshold?: number;
}

/**
 * A circuit breaker around one dependency (opossum). Declared degraded behaviour: while
 * open, calls fail fast with `UnavailableError` (4503 / HTTP 503) instead of queuing up
 * behind a dead dependency. Caller errors that are not the dependency's fault (catalog
 * errors that are not retriable, e.g. bad requests) do not count as failures.
 */
export class DependencyBreaker {
  readonly name: string;
  readonly #breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  readonly #metrics: Metrics;

  constructor(name: string, deps: { metrics: Metrics; logger: Logger }, opts: BreakerOptions = {}) {
    this.name = name;
    this.#metrics = deps.metrics;
    this.#breaker = new CircuitBreaker((fn: () => Promise<unknown>) => fn(), {
      name,
      timeout: opts.timeoutMs ?? 5000,
      errorThresholdPercentage: opts.errorThresholdPercentage ?? 50,
      resetTimeout: opts.resetTimeoutMs ?? 5000,
      volumeThreshold: opts.volumeThreshold ?? 5,
      // Only the dependency's own failures count: a caller's error (a non-retriable catalog
      // error) or a programming error our code threw while handling one request's data
      // (TypeError, RangeError: a bug or a hostile input, never an outage) must not open
      // the breaker and fail every other client's calls.
      errorFilter: (err: unknown) =>
        (err instanceof BackbeatError && !err.retriable) || isProgrammingError(err),
    });
    const gauge = deps.metrics.breakerState.labels(name);
    gauge.set(0);
    this.#breaker.on('open', () => {
      gauge.set(1);
      deps.logger.warn({ dependency: name }, 'circuit breaker open');
    });
    this.#breaker.on('halfOpen', () => gauge.set(0.5));
    this.#breaker.on('close', () => {
      gauge.set(0);
      deps.logger.info({ dependency: name }, 'circuit breaker closed');
    });
  }

  get isOpen(): boolean {
    return this.#breaker.opened;
  }

  async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return (await this.#breaker.fire(fn)) as T;
    } catch (err) {
      if (err instanceof BackbeatError) throw err;
      const code = (err as { code?: string }).code;
      if (code === 'EOPENBREAKER') {
        this.#metrics.breakerRejections.labels(this.name).inc();
        throw new UnavailableError(`${this.name} unavailable (circuit open)`, { cause: err });
      }
      if (code === 'ETIMEDOUT') throw new UnavailableError(`${this.name} timed out`, { cause: err });
      // A bug, not an outage: 4500 / HTTP 500 for this request only (logged by the caller).
      if (isProgrammingError(err))
        throw new InternalError(`${this.name}: ${(err as Error).message}`, { cause: err });
      throw new UnavailableError(`${this.name} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  shutdown(): void {
    this.#breaker.shutdown();
  }
}

/** Errors that JavaScript itself raises for a bug or an input our code cannot handle (not I/O). */
function isProgrammingError(err: unknown): boolean {
  return (
    err instanceof TypeError ||
    err instanceof RangeError ||
    err instanceof SyntaxError ||
    err instanceof ReferenceError
  );
}
