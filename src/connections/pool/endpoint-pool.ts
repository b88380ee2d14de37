import type { Logger } from '../../core/observability/index.ts';
import { UnavailableError } from '../../core/errors/index.ts';
import type { Clock, TimerHandle } from '../../core/time/index.ts';
import { eligible, type Strategy } from '../balancer/index.ts';

export interface EndpointState {
  /** The endpoint's address (e.g. `https://api.push.apple.com`). */
  id: string;
  weight: number;
  /** Requests in flight through this pool. */
  inFlight: number;
  /** Max concurrent requests to this endpoint. */
  capacity: number;
  healthy: boolean;
  consecutiveFailures: number;
  /** Until when a failed endpoint is benched (ms since epoch). */
  benchedUntil: number;
}

export interface EndpointPoolOptions {
  endpoints: ReadonlyArray<{ id: string; weight?: number; capacity?: number }>;
  strategy: Strategy;
  clock: Clock;
  logger: Logger;
  /** Failures in a row that mark an endpoint unhealthy. @default 3 */
  failureThreshold?: number;
  /** How long an unhealthy endpoint is benched before a trial request. @default 5000 ms */
  benchMs?: number;
  /** Optional active probe; when given, runs every `healthCheckMs` on each endpoint. */
  healthCheck?: (id: string) => Promise<boolean>;
  /** @default 10000 ms */
  healthCheckMs?: number;
}

/**
 * A pool of outbound endpoints (push providers' hosts, for instance) with the same
 * strategies as the gateway balancer, passive health (N failures in a row bench an
 * endpoint, a trial request after the bench decides), optional active probes, and
 * failover: `run()` retries a retriable failure on another endpoint.
 */
export class EndpointPool {
  readonly #o: Required<Omit<EndpointPoolOptions, 'healthCheck'>> & Pick<EndpointPoolOptions, 'healthCheck'>;
  readonly #endpoints: EndpointState[];
  readonly #timer: TimerHandle | undefined;

  constructor(opts: EndpointPoolOptions) {
    this.#o = { failureThreshold: 3, benchMs: 5000, healthCheckMs: 10_000, ...opts };
    this.#endpoints = opts.endpoints.map((e) => ({
      id: e.id,
      weight: e.weight ?? 1,
      capacity: e.capacity ?? 100,
      inFlight: 0,
      healthy: true,
      consecutiveFailures: 0,
      benchedUntil: 0,
    }));
    if (opts.healthCheck) {
      this.#timer = opts.clock.setInterval(() => void this.probe(), this.#o.healthCheckMs);
    }
  }

  get endpoints(): readonly Readonly<EndpointState>[] {
    return this.#endpoints;
  }

  /** Picks an endpoint: healthy ones (or benched ones whose bench is over) with spare capacity. */
  pick(key?: string, exclude: ReadonlySet<string> = new Set()): EndpointState | undefined {
    const now = this.#o.clock.now();
    const candidates = this.#endpoints.filter(
      (e) => !exclude.has(e.id) && (e.healthy || e.benchedUntil <= now),
    );
    const targets = eligible(
      candidates.map((e) => ({ id: e.id, load: e.inFlight, capacity: e.capacity, weight: e.weight, e })),
    );
    return this.#o.strategy.pick(targets, key)?.e;
  }

  /**
   * Runs `fn` against an endpoint, failing over to another on a retriable error (an
   * error with `retriable: true`, or any non-catalog error), at most `attempts` endpoints.
   */
  async run<T>(
    fn: (endpoint: string) => Promise<T>,
    opts: { key?: string; attempts?: number } = {},
  ): Promise<T> {
    const tried = new Set<string>();
    const attempts = opts.attempts ?? Math.max(1, this.#endpoints.length);
    let lastErr: unknown;
    for (let i = 0; i < attempts; i++) {
      const ep = this.pick(opts.key, tried);
      if (!ep) break;
      tried.add(ep.id);
      ep.inFlight++;
      try {
        const result = await fn(ep.id);
        this.#succeeded(ep);
        return result;
      } catch (err) {
        lastErr = err;
        const retriable = (err as { retriable?: boolean }).retriable !== false;
        if (retriable) this.#failed(ep, err);
        if (!retriable) throw err;
      } finally {
        ep.inFlight--;
      }
    }
    throw new UnavailableError(
      `no endpoint could serve the request (tried ${[...tried].join(', ') || 'none'})`,
      { cause: lastErr },
    );
  }

  /** Runs the active health check on every endpoint once. */
  async probe(): Promise<void> {
    const check = this.#o.healthCheck;
    if (!check) return;
    await Promise.all(
      this.#endpoints.map(async (ep) => {
        const ok = await check(ep.id).catch(() => false);
        if (ok) this.#succeeded(ep);
        else this.#failed(ep, new Error('health check failed'));
      }),
    );
  }

  close(): void {
    this.#timer?.cancel();
  }

  #succeeded(ep: EndpointState): void {
    if (!ep.healthy) this.#o.logger.info({ endpoint: ep.id }, 'endpoint healthy again');
    ep.healthy = true;
    ep.consecutiveFailures = 0;
    ep.benchedUntil = 0;
  }

  #failed(ep: EndpointState, err: unknown): void {
    ep.consecutiveFailures++;
    if (ep.consecutiveFailures >= this.#o.failureThreshold || !ep.healthy) {
      if (ep.healthy) this.#o.logger.warn({ endpoint: ep.id, err }, 'endpoint unhealthy; failing over');
      ep.healthy = false;
      ep.benchedUntil = this.#o.clock.now() + this.#o.benchMs;
    }
  }
}
