import type { Clock } from '../../core/time/index.ts';
import type { NodeInfo, NodeRegistry } from './types.ts';

/** The single-process registry: the nodes registered in this process (normally one). */
export class MemoryNodeRegistry implements NodeRegistry {
  readonly #nodes = new Map<string, NodeInfo>();
  readonly #clock: Clock;
  readonly #ttlMs: number;

  constructor(opts: { clock: Clock; ttlMs: number }) {
    this.#clock = opts.clock;
    this.#ttlMs = opts.ttlMs;
  }

  async heartbeat(info: NodeInfo): Promise<void> {
    this.#nodes.set(info.node, { ...info });
  }

  async list(): Promise<NodeInfo[]> {
    const cutoff = this.#clock.now() - this.#ttlMs;
    return [...this.#nodes.values()].filter((n) => n.updatedAt > cutoff);
  }

  async deregister(node: string): Promise<void> {
    this.#nodes.delete(node);
  }

  async close(): Promise<void> {
    this.#nodes.clear();
  }
}
