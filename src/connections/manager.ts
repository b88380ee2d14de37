import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from '../core/observability/index.ts';
import type { Clock, TimerHandle } from '../core/time/index.ts';
import { eligible, type Strategy } from './balancer/index.ts';
import type { NodeInfo, NodeRegistry } from './registry/index.ts';

export interface ConnectionManagerOptions {
  registry: NodeRegistry;
  strategy: Strategy;
  clock: Clock;
  logger: Logger;
  /** This node's current record, without the measured fields. */
  self: () => Omit<NodeInfo, 'updatedAt' | 'cpu' | 'eventLoopLagMs'>;
  /** @default 2000 ms */
  heartbeatMs: number;
}

/**
 * Connection management for one node: heartbeats this node's record (connections,
 * capacity, CPU, event-loop lag, health) into the registry, and answers "which node
 * should this client use" with the configured strategy among healthy nodes with spare
 * capacity. On close it deregisters first, so balancers stop sending clients here
 * before the drain begins.
 */
export class ConnectionManager {
  readonly #o: ConnectionManagerOptions;
  // Created by start(): a histogram never enabled is a native handle nothing would close.
  #lag: ReturnType<typeof monitorEventLoopDelay> | undefined;
  #timer: TimerHandle | undefined;
  #cpu = process.cpuUsage();
  #cpuAt = performance.now();
  #cache: { at: number; nodes: NodeInfo[] } | undefined;
  #stopped = false;

  constructor(opts: ConnectionManagerOptions) {
    this.#o = opts;
  }

  async start(): Promise<void> {
    this.#lag ??= monitorEventLoopDelay({ resolution: 20 });
    this.#lag.enable();
    this.#timer = this.#o.clock.setInterval(() => {
      this.heartbeat().catch((err: unknown) => this.#o.logger.warn({ err }, 'node heartbeat failed'));
    }, this.#o.heartbeatMs);
    await this.heartbeat().catch((err: unknown) =>
      this.#o.logger.warn({ err }, 'first node heartbeat failed'),
    );
  }

  /** Writes this node's record now. */
  async heartbeat(): Promise<void> {
    if (this.#stopped) return;
    const now = performance.now();
    const usage = process.cpuUsage(this.#cpu);
    const cpu = (usage.user + usage.system) / 1000 / Math.max(1, now - this.#cpuAt);
    this.#cpu = process.cpuUsage();
    this.#cpuAt = now;
    const p99 = this.#lag?.percentile(99) ?? NaN;
    const lag = Number.isFinite(p99) ? p99 / 1e6 : 0;
    this.#lag?.reset();
    await this.#o.registry.heartbeat({
      ...this.#o.self(),
      cpu: Math.round(cpu * 1000) / 1000,
      eventLoopLagMs: Math.round(lag * 10) / 10,
      updatedAt: this.#o.clock.now(),
    });
    this.#cache = undefined;
  }

  /** Live nodes (cached for half a heartbeat, so /v1/connect under load costs little). */
  async nodes(): Promise<NodeInfo[]> {
    const now = this.#o.clock.now();
    if (this.#cache && now - this.#cache.at < this.#o.heartbeatMs / 2) return this.#cache.nodes;
    const nodes = (await this.#o.registry.list()).sort((a, b) => (a.node < b.node ? -1 : 1));
    this.#cache = { at: now, nodes };
    return nodes;
  }

  /** The node a client should connect to, or undefined when none is healthy with room. */
  async pick(key?: string): Promise<NodeInfo | undefined> {
    const healthy = (await this.nodes()).filter((n) => n.health === 'healthy');
    const targets = eligible(
      healthy.map((n) => ({
        id: n.node,
        load: n.connections,
        capacity: n.capacity,
        weight: n.weight,
        info: n,
      })),
    );
    return this.#o.strategy.pick(targets, key)?.info;
  }

  /** Stops heartbeating and removes this node from the registry. */
  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const started = this.#timer !== undefined;
    this.#timer?.cancel();
    this.#lag?.disable();
    if (started) await this.#o.registry.deregister(this.#o.self().node);
  }
}
