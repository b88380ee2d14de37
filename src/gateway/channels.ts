import { context, trace, SpanStatusCode, type Context } from '@opentelemetry/api';
import { BackbeatError, InternalError } from '../core/errors/index.ts';
import { extractContext, injectContext, tracer } from '../core/observability/index.ts';
import type { DependencyBreaker } from '../core/resilience/index.ts';
import type { Clock } from '../core/time/index.ts';
import type { ClientInfo, Engines, HistoryPage, Publication, StreamPosition } from './engines/ports.ts';
import type { GatewayMetrics, PublishSource } from './metrics.ts';

export interface PublishResult {
  offset: number;
  epoch: string;
}

type NewPublication = Omit<Publication, 'offset'>;

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

/**
 * Channel operations shared by the WebSocket commands and the HTTP API: publish (history
 * first, then fan-out, so a `published` reply means the publication is recoverable),
 * presence, history and cluster-wide user disconnects. Every call to an engine that does
 * I/O goes through the dependency breaker: when it is down, callers get 4503 / HTTP 503.
 * In-process engines (memory) publish synchronously, without the breaker: nothing there
 * can be unreachable or slow, and an error from them is a bug (4500), never an outage.
 */
export class ChannelService {
  readonly #engines: Engines;
  readonly #breaker: DependencyBreaker;
  readonly #metrics: GatewayMetrics;
  readonly #clock: Clock;
  readonly #historySize: number;

  constructor(deps: {
    engines: Engines;
    breaker: DependencyBreaker;
    metrics: GatewayMetrics;
    clock: Clock;
    historySize: number;
  }) {
    this.#engines = deps.engines;
    this.#breaker = deps.breaker;
    this.#metrics = deps.metrics;
    this.#clock = deps.clock;
    this.#historySize = deps.historySize;
  }

  /**
   * Appends to history and fans out. Traced as a `gateway.publish` span (a child of
   * `traceHeaders` or of the active context) when a tracing SDK samples it; otherwise no
   * span bookkeeping at all, and the caller's context, if any, still travels with the
   * publication.
   */
  async publish(
    channel: string,
    data: unknown,
    info: ClientInfo | undefined,
    source: PublishSource,
    traceHeaders?: Record<string, unknown>,
  ): Promise<PublishResult> {
    return this.publishNow(channel, data, info, source, traceHeaders);
  }

  /**
   * `publish`, answered synchronously when it can be: with in-process engines (memory)
   * and no span being recorded, the publication is in history and handed to fan-out when
   * this returns, without a promise or a microtask (the WebSocket publish hot path);
   * otherwise a promise. Throws (or rejects) as `publish` rejects.
   */
  publishNow(
    channel: string,
    data: unknown,
    info: ClientInfo | undefined,
    source: PublishSource,
    traceHeaders?: Record<string, unknown>,
  ): PublishResult | Promise<PublishResult> {
    const started = performance.now();
    const parent = traceHeaders ? extractContext(traceHeaders) : context.active();
    const span = tracer.startSpan('gateway.publish', undefined, parent);
    if (!span.isRecording()) return this.#publish(channel, data, info, source, parent, started);
    span.setAttribute('backbeat.channel', channel);
    return context.with(trace.setSpan(parent, span), async () => {
      try {
        const res = await this.#publish(channel, data, info, source, context.active(), started);
        span.setAttribute('backbeat.offset', res.offset);
        return res;
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: String(err) });
        throw err;
      } finally {
        span.end();
      }
    });
  }

  #publish(
    channel: string,
    data: unknown,
    info: ClientInfo | undefined,
    source: PublishSource,
    ctx: Context,
    started: number,
  ): PublishResult | Promise<PublishResult> {
    const headers = injectContext(ctx);
    const pub: NewPublication = { data, ts: this.#clock.now() };
    if (info) pub.info = info;
    if (!isEmpty(headers)) pub.trace = headers;
    if (this.#engines.publishSync) {
      let res;
      try {
        res = this.#engines.publishSync(channel, pub);
      } catch (err) {
        throw err instanceof BackbeatError
          ? err
          : new InternalError(`engines:${this.#engines.kind}: ${(err as Error).message}`, { cause: err });
      }
      this.#metrics.observePublish(source, (performance.now() - started) / 1000);
      return { offset: res.publication.offset, epoch: res.epoch };
    }
    return this.#breaker
      .call(() => this.#engines.publish(channel, pub))
      .then(({ publication, epoch }) => {
        this.#metrics.observePublish(source, (performance.now() - started) / 1000);
        return { offset: publication.offset, epoch };
      });
  }

  async presence(channel: string): Promise<Required<ClientInfo>[]> {
    return this.#breaker.call(() => this.#engines.presence.list(channel));
  }

  /** `since` absent: the latest `limit` (default 100), oldest first. */
  async history(
    channel: string,
    since: StreamPosition | undefined,
    limit: number | undefined,
  ): Promise<HistoryPage> {
    const lim = Math.min(limit ?? 100, Math.max(this.#historySize, 0));
    return this.#breaker.call(() => this.#engines.history.read(channel, { since, limit: lim }));
  }

  async disconnectUser(user: string, code: number, reason: string): Promise<void> {
    await this.#breaker.call(() =>
      this.#engines.broker.publishControl({ type: 'disconnect-user', user, code, reason }),
    );
  }
}
