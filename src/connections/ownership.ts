import type { Clock, TimerHandle } from '../core/time/index.ts';
import { ConsistentHashStrategy } from './balancer/consistent-hash.ts';
import type { NodeInfo } from './registry/types.ts';

/**
 * Which node owns a key (a user id) among the live, healthy nodes: consistent hashing
 * over the registry, refreshed every `refreshMs`. Used where exactly one node should act
 * for a user although every node sees the user's events (recommendation pushes, dead
 * letters with the Kafka log). While the view is empty (starting, registry down) this
 * node owns everything: a duplicate push is better than a lost one.
 */
export class KeyOwnership {
  readonly #self: string;
  readonly #nodes: () => Promise<NodeInfo[]>;
  readonly #ring = new ConsistentHashStrategy();
  #targets: Array<{ id: string; load: number; capacity: number; weight: number }> = [];
  #timer: TimerHandle | undefined;

  constructor(opts: { self: string; nodes: () => Promise<NodeInfo[]>; clock: Clock; refreshMs: number }) {
    this.#self = opts.self;
    this.#nodes = opts.nodes;
    this.#timer = opts.clock.setInterval(() => void this.refresh(), opts.refreshMs);
  }

  async refresh(): Promise<void> {
    try {
      const healthy = (await this.#nodes()).filter((n) => n.health === 'healthy');
      // Load and capacity play no part in ownership: every node is an equal target.
      this.#targets = healthy.map((n) => ({ id: n.node, load: 0, capacity: 1, weight: 1 }));
    } catch {
      // Keep the last view; the registry's own health shows in /readyz.
    }
  }

  owns(key: string): boolean {
    if (this.#targets.length === 0) return true;
    const owner = this.#ring.pick(this.#targets, key);
    return owner === undefined || owner.id === this.#self;
  }

  close(): void {
    this.#timer?.cancel();
  }
}
